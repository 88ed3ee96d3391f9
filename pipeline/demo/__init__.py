"""The offline demo as a library: the whole lab against an in-process emulator, then nothing left behind.

`run_demo` is what `aoai-ft demo` calls; the command only turns options into `DemoOptions`.
"""
from pipeline.demo.flow import ACCOUNT_NAME, BASE_DEPLOYMENT, FT_DEPLOYMENT, DemoOptions, default_datasets, run_demo
from pipeline.demo.journal import DemoJournal
from pipeline.demo.teardown import Created, UploadedFiles, tear_down

__all__ = ["ACCOUNT_NAME", "BASE_DEPLOYMENT", "FT_DEPLOYMENT", "Created", "DemoJournal", "DemoOptions",
           "UploadedFiles", "default_datasets", "run_demo", "tear_down"]

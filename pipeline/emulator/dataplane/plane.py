"""The data plane's stores, built together in one place (`EmulatorState.create`) and handed to the routes.

What the ARM plane needs from them (settled fine-tuned models before a deployment) is the `ModelCatalog` built
here, which `EmulatorState.models` shares; what they need from the ARM plane (deployments) is passed in.
"""
from __future__ import annotations

from dataclasses import dataclass

from pipeline.emulator.clock import Clock
from pipeline.emulator.config import EmulatorConfig
from pipeline.emulator.db import Database
from pipeline.emulator.deployments import Deployments
from pipeline.emulator.dataplane.evals.store import EvalStore
from pipeline.emulator.models import FineTunedModels, ModelCatalog
from pipeline.emulator.dataplane.catalog import Catalog
from pipeline.emulator.dataplane.chat import ChatResponder
from pipeline.emulator.dataplane.files import FileStore
from pipeline.emulator.dataplane.job_rows import JobRows
from pipeline.emulator.dataplane.jobs import JobStore
from pipeline.emulator.dataplane.learning import Learning


@dataclass(frozen=True)
class DataPlane:
    clock: Clock
    files: FileStore
    jobs: JobStore
    models: ModelCatalog
    catalog: Catalog
    chat: ChatResponder
    deployments: Deployments
    evals: EvalStore
    eval_run_seconds: float  # an eval run's length on the clock (queued for a tenth, then items complete)

    @classmethod
    def create(cls, db: Database, clock: Clock, config: EmulatorConfig, deployments: Deployments) -> "DataPlane":
        fine_tuned = FineTunedModels(db)
        files = FileStore(db, clock, config)
        jobs = JobStore(JobRows(db), files, fine_tuned, clock, config)
        models = ModelCatalog(fine_tuned, settle=jobs.settle_all)
        chat = ChatResponder(generalize=Learning(models, jobs, files).generalize)
        return cls(clock=clock, files=files, jobs=jobs, models=models, catalog=Catalog(models, deployments, clock),
                   chat=chat, deployments=deployments, evals=EvalStore(db), eval_run_seconds=config.eval_run_seconds)

"""pipeline.dataset's names load on first use, so `aoai-ft validate` can start scanning before pydantic's models
and numpy (for the statistics) are imported: it imports them while a worker scans."""
from __future__ import annotations

import subprocess
import sys

import pipeline.dataset
from tests.paths import ROOT


def test_every_exported_name_resolves() -> None:
    assert sorted(pipeline.dataset.__all__) == sorted(pipeline.dataset._EXPORTS)
    for name in pipeline.dataset.__all__:
        assert getattr(pipeline.dataset, name) is not None
    assert "validate_files" in dir(pipeline.dataset)


def test_the_scan_needs_neither_pydantic_nor_numpy_and_the_report_both() -> None:
    code = (
        "import sys\n"
        "import pipeline.commands.validate\n"
        "from pipeline.dataset.validate import scan_file\n"
        "scan = scan_file('datasets/training_set.jsonl', parallel=False)\n"
        "assert scan.examples > 10 and not scan.errors\n"
        "print(sorted(m for m in ('pydantic', 'numpy', 'rich') if m in sys.modules))\n"
        "from pipeline.dataset import validate_file\n"
        "assert validate_file('datasets/training_set.jsonl').ok\n"
        "print(sorted(m for m in ('pydantic', 'numpy', 'rich') if m in sys.modules))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True).stdout
    assert out.splitlines() == ["[]", "['numpy', 'pydantic']"]

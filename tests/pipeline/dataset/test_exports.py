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


def test_validate_files_scans_before_importing_the_report_modules() -> None:
    """Everything validate_files does before the scan stays light, so a forked worker starts scanning while this
    process imports pydantic and numpy (the DPO dispatch once imported them first, through preference_report)."""
    code = (
        "import sys\n"
        "import pipeline.dataset.validate as v\n"
        "scan_file = v.scan_file\n"
        "def spy(*args, **kwargs):\n"
        "    print(sorted(m for m in ('pydantic', 'numpy', 'rich') if m in sys.modules))\n"
        "    return scan_file(*args, **kwargs)\n"
        "v.scan_file = spy\n"
        "assert v.validate_files(['datasets/training_set.jsonl', 'datasets/validation_set.jsonl'],"
        " model='gpt-4o-2024-08-06', method='supervised').ok\n"
    )
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True).stdout
    assert out.splitlines()[0] == "[]"

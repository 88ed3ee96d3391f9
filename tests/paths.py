"""Test data the suite reads, all inside the repository: the official specs (`tests/specs`, sources in
SOURCE.txt), the lab's Task 9 (`tests/data`) and the benchmark dataset generator (`benchmarks/make_dataset.py`);
and the installed `aoai-ft` the subprocess tests run."""
from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SPECS = ROOT / "tests" / "specs"
DATAPLANE_SPEC = SPECS / "azureopenai-2024-10-21.json"
ARM_SPEC = SPECS / "cognitiveservices-2026-09-01.json"
MAKE_DATASET = ROOT / "benchmarks" / "make_dataset.py"
LAB_TASK9 = ROOT / "tests" / "data" / "lab-task9.md"
AOAI_FT = Path(sys.executable).with_name("aoai-ft")
"""The console script `pip install` made beside the interpreter running the tests: what a user runs."""

"""Fixtures for the dataset tests: make_dataset.py output, generated once per session."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from tests.paths import MAKE_DATASET




@pytest.fixture(scope="session")
def generated(tmp_path_factory: pytest.TempPathFactory):
    """make_dataset.py output, generated once per (n, bad_every) per session."""
    cache: dict[tuple[int, int], Path] = {}
    root = tmp_path_factory.mktemp("generated")

    def make(n: int, bad_every: int = 0) -> Path:
        key = (n, bad_every)
        if key not in cache:
            out = root / f"d{n}_bad{bad_every}.jsonl"
            args = [sys.executable, str(MAKE_DATASET), str(out), str(n)]
            if bad_every:
                args += ["--bad-every", str(bad_every)]
            subprocess.run(args, check=True, timeout=120)
            cache[key] = out
        return cache[key]

    return make

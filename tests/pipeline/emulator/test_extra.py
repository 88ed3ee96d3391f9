"""The `[emulator]` extra: without it `aoai-ft emulator` and `aoai-ft demo` stop with one `Error:` line naming it,
and the rest of the CLI works. "Without it" is a real subprocess in which importing those modules fails (a
sitecustomize that sets their `sys.modules` entries to None, as an uninstalled package would fail)."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from pipeline.emulator.extra import INSTALL, MODULES

ROOT = Path(__file__).resolve().parents[3]
SERVER = ("fastapi", "uvicorn", "starlette")


def run_without(tmp_path: Path, modules: tuple[str, ...], *args: str) -> subprocess.CompletedProcess[str]:
    """`python -m pipeline ARGS` in a process where importing any of `modules` raises ModuleNotFoundError."""
    shim = tmp_path / "shim"
    shim.mkdir(exist_ok=True)
    (shim / "sitecustomize.py").write_text(f"import sys\nsys.modules.update(dict.fromkeys({list(modules)!r}))\n")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(shim), os.environ.get("PYTHONPATH", "")]).rstrip(os.pathsep),
           "NO_COLOR": "1"}
    return subprocess.run([sys.executable, "-m", "pipeline", *args], cwd=tmp_path, env=env, capture_output=True,
                          text=True, timeout=120)


@pytest.mark.parametrize("args", [["emulator", "--port", "0"], ["demo", "--out", "out"]], ids=["emulator", "demo"])
def test_emulator_and_demo_name_the_extra(tmp_path: Path, args: list[str]) -> None:
    proc = run_without(tmp_path, SERVER, *args)
    assert proc.returncode == 2, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error: ") and INSTALL in lines[0], proc.stderr
    assert "fastapi" in lines[0] and "uvicorn" in lines[0]
    assert not (tmp_path / "out").exists()


def test_the_rest_of_the_cli_needs_none_of_it(tmp_path: Path) -> None:
    blocked = (*SERVER, *MODULES)
    assert run_without(tmp_path, blocked, "--help").returncode == 0
    proc = run_without(tmp_path, blocked, "validate", str(ROOT / "datasets" / "training_set.jsonl"),
                       str(ROOT / "datasets" / "validation_set.jsonl"))
    assert proc.returncode == 0, proc.stderr
    assert "Traceback" not in proc.stderr


def test_the_shim_really_blocks(tmp_path: Path) -> None:
    """The checks above prove something only if the blocked imports do fail in such a process."""
    run_without(tmp_path, SERVER, "--help")  # writes the shim
    probe = subprocess.run([sys.executable, "-c", "import fastapi"], capture_output=True, text=True,
                           env={**os.environ, "PYTHONPATH": str(tmp_path / "shim")})
    assert probe.returncode != 0 and "ModuleNotFoundError" in probe.stderr

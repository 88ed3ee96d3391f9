#!/usr/bin/env python3
"""One entry point for a fresh machine that has only Python 3.11+.

    python3 dev.py demo    # set up, then run the offline end-to-end demo
    python3 dev.py test    # set up, then run the whole test suite (what CI runs)

Set-up is idempotent: a virtualenv in .venv with the project installed editable (with its dev and emulator
extras), and a second one in
.venv-legacy with the lab's openai==0.28.1, which the emulator's compatibility tests drive.
"""
from __future__ import annotations

import os
import subprocess
import sys
import venv
from pathlib import Path

ROOT = Path(__file__).resolve().parent
VENV = ROOT / ".venv"
PROGRAM_VENV = ROOT / "infra" / ".venv"
"""Pulumi runs dynamic providers with the program's folder (infra/) as working directory and resolves the
`virtualenv: .venv` option of Pulumi.yaml against it, while the language host resolves it against the project
root: this link makes both find the same virtualenv."""
LEGACY_VENV = ROOT / ".venv-legacy"
LEGACY_REQUIREMENTS = ["openai==0.28.1"]
TEST_WORKERS = "5"
"""pytest-xdist processes for `dev.py test`: most tests wait on loopback servers and subprocesses rather than
compute, so five workers keep two cores busy (measured on 2 cores: 4 left a fifth of the CPU idle, 6 spent
more on start-up than they gained). Pass `-n N` (or `-n 0` for one process) to choose yourself.
`--dist loadgroup` keeps the tests that share a module-scoped fixture in one worker (see tests/conftest.py)."""


def _python(env_dir: Path) -> Path:
    return env_dir / ("Scripts/python.exe" if os.name == "nt" else "bin/python")


def _ensure_venv(env_dir: Path, requirements: list[str], stamp_text: str) -> Path:
    py = _python(env_dir)
    stamp = env_dir / ".aoai-ft-installed"
    if py.exists() and stamp.exists() and stamp.read_text() == stamp_text:
        return py
    if not py.exists():
        print(f"creating {env_dir.name} ...", flush=True)
        venv.EnvBuilder(with_pip=True).create(env_dir)
    print(f"installing into {env_dir.name}: {' '.join(requirements)}", flush=True)
    subprocess.run([str(py), "-m", "pip", "install", "--quiet", *requirements], check=True, cwd=ROOT)
    stamp.write_text(stamp_text)
    return py


def _ensure_program_venv_link() -> None:
    """infra/.venv -> ../.venv (committed as a symlink; re-made here where a checkout lost it)."""
    if PROGRAM_VENV.resolve() == VENV.resolve() and PROGRAM_VENV.is_dir():
        return
    if PROGRAM_VENV.is_symlink() or PROGRAM_VENV.is_file():
        PROGRAM_VENV.unlink()
    if os.name == "nt":  # a directory junction needs no developer mode or admin rights
        subprocess.run(["cmd", "/c", "mklink", "/J", str(PROGRAM_VENV), str(VENV)], check=True, capture_output=True)
    else:
        PROGRAM_VENV.symlink_to(Path("..") / VENV.name, target_is_directory=True)


def setup() -> Path:
    if sys.version_info < (3, 11):
        sys.exit(f"aoai-finetune needs Python 3.11+, this is {sys.version.split()[0]}")
    pyproject = (ROOT / "pyproject.toml").read_text()
    py = _ensure_venv(VENV, ["-e", ".[dev,emulator]"], pyproject)
    _ensure_program_venv_link()
    _ensure_venv(LEGACY_VENV, LEGACY_REQUIREMENTS, " ".join(LEGACY_REQUIREMENTS))
    return py


def _parallel(args: list[str]) -> list[str]:
    """`-n TEST_WORKERS --dist loadgroup` unless the arguments already choose (`-n N`, `--numprocesses=N`)."""
    chosen = any(a.startswith(("-n", "--numprocesses")) for a in args)
    return [] if chosen else ["-n", TEST_WORKERS, "--dist", "loadgroup"]


def _with_bytecode(env: dict[str, str]) -> dict[str, str]:
    """The test run keeps its bytecode (in the git-ignored __pycache__ folders) even where PYTHONDONTWRITEBYTECODE
    is set: each pytest worker then loads the test modules' assertion-rewritten code instead of rewriting it again,
    about 2 s of CPU per worker and run."""
    return {key: value for key, value in env.items() if key != "PYTHONDONTWRITEBYTECODE"}


def main(argv: list[str]) -> int:
    if not argv or argv[0] not in {"setup", "demo", "test"}:
        print(__doc__)
        return 2
    py = setup()
    env = dict(os.environ, AOAI_FT_LEGACY_PYTHON=str(_python(LEGACY_VENV)))
    if argv[0] == "demo":
        return subprocess.run([str(py), "-m", "pipeline", "demo", *argv[1:]], cwd=ROOT, env=env).returncode
    if argv[0] == "test":
        return subprocess.run([str(py), "-m", "pytest", *_parallel(argv[1:]), *argv[1:]], cwd=ROOT,
                              env=_with_bytecode(env)).returncode
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

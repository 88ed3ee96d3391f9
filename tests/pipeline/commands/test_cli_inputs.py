"""Awkward inputs through the real CLI (subprocesses): pipes and `<(...)`, a binary price file, a directory or an
unreadable file as training data, and a job that cannot be polled until --timeout. Each ends in one `Error:` line
with a hint (or a normal result), never a traceback, and changes nothing on the service."""
from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests import loopback
from tests.pipeline.emulated import emulator_env
from tests.warm_cli import warm_aoai_ft

ROOT = Path(__file__).resolve().parents[3]
TRAINING = ROOT / "datasets" / "training_set.jsonl"
NOBODY = 65534


def base_env() -> dict[str, str]:
    return {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": os.environ.get("HOME", "/tmp"),
            "LANG": "C.UTF-8"}


def run(args: list[str], env: dict[str, str] | None = None, **kwargs: object) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(warm_aoai_ft()), *args], capture_output=True, text=True, timeout=120, cwd=ROOT,
                          env={**base_env(), **(env or {})}, **kwargs)  # type: ignore[call-overload]


def error_lines(proc: subprocess.CompletedProcess[str]) -> tuple[str, str]:
    assert "Traceback" not in proc.stderr + proc.stdout, proc.stderr
    lines = [line for line in proc.stderr.strip().splitlines() if not line.startswith("  no answer yet")]
    assert len(lines) == 2 and lines[0].startswith("Error: ") and lines[1].startswith("  hint: "), proc.stderr
    return lines[0], lines[1]


@pytest.mark.parametrize("command", ["validate", "estimate"])
def test_process_substitution(command: str) -> None:
    proc = subprocess.run(["bash", "-c", f'"{warm_aoai_ft()}" {command} <(cat "{TRAINING}")'], capture_output=True,
                          text=True, timeout=120, env=base_env())
    assert proc.returncode == 0, proc.stderr
    assert "Traceback" not in proc.stderr
    assert ("1 file(s) valid" if command == "validate" else "57 examples") in proc.stdout


@pytest.mark.parametrize("command", ["validate", "estimate"])
def test_stdin_pipe(command: str) -> None:
    proc = subprocess.run([str(warm_aoai_ft()), command, "/dev/stdin", "--json"], input=TRAINING.read_bytes(),
                          capture_output=True, timeout=120, env=base_env())
    assert proc.returncode == 0, proc.stderr
    assert b'"billed_tokens"' in proc.stdout


def test_a_bad_line_from_a_pipe_is_reported_with_its_line_number() -> None:
    data = TRAINING.read_bytes() + b"not json\n"
    proc = subprocess.run([str(warm_aoai_ft()), "validate", "/dev/stdin"], input=data, capture_output=True, timeout=120,
                          env=base_env())
    assert proc.returncode == 1 and b"invalid_json" in proc.stdout and b"Traceback" not in proc.stderr


@pytest.mark.parametrize("content", [bytes(range(256)) * 4, b"\xff\xfe{\x00"])
def test_binary_price_file(tmp_path: Path, content: bytes) -> None:
    prices = tmp_path / "prices.yaml"
    prices.write_bytes(content)
    proc = run(["estimate", str(TRAINING), "--prices", str(prices)])
    assert proc.returncode == 2
    error, _ = error_lines(proc)
    assert "is not UTF-8 text" in error


def test_train_with_a_directory_is_refused_before_any_request(fast_emulator, tmp_path: Path) -> None:  # noqa: F811
    proc = run(["train", "-t", "datasets"], env=emulator_env(fast_emulator))
    assert proc.returncode == 2
    error, _ = error_lines(proc)
    assert error == "Error: datasets is a directory"
    account = fast_emulator.config.default_account
    assert fast_emulator.state.dataplane.files.list(account) == []
    assert fast_emulator.state.dataplane.jobs.list(account) == []


@pytest.fixture
def unreadable() -> Iterator[Path]:
    """A training file its reader may not open: mode 000 in a directory everyone can enter."""
    folder = Path(tempfile.mkdtemp(prefix="aoai-ft-perm-"))
    folder.chmod(0o755)
    path = folder / "training_set.jsonl"
    shutil.copyfile(TRAINING, path)
    path.chmod(0)
    yield path
    shutil.rmtree(folder)


def test_train_with_an_unreadable_file(fast_emulator, unreadable: Path) -> None:  # noqa: F811
    """Root reads mode-000 files, so as root the CLI runs as `nobody` (uid 65534): a real EACCES, not a mock."""
    drop = {"user": NOBODY, "group": NOBODY, "extra_groups": []} if os.geteuid() == 0 else {}
    env = {**emulator_env(fast_emulator), "HOME": str(unreadable.parent)}
    proc = run(["train", "-t", str(unreadable)], env=env, **drop)
    assert proc.returncode == 2, proc.stderr
    error, _ = error_lines(proc)
    assert error == f"Error: cannot read {unreadable}: Permission denied"
    assert fast_emulator.state.dataplane.files.list(fast_emulator.config.default_account) == []


def test_train_that_cannot_poll_until_timeout_says_the_job_runs_on(fast_emulator) -> None:  # noqa: F811
    env = emulator_env(fast_emulator)
    loopback.post(f"{fast_emulator.url}/admin/faults", headers={"api-key": fast_emulator.api_key},
                  json={"route": r"/fine_tuning/jobs/ftjob-[0-9a-f]+$", "kind": "500", "methods": ["GET"]}
                  ).raise_for_status()
    proc = run(["train", "-t", str(TRAINING), "--timeout", "2", "--poll-interval", "0.2", "--max-retries", "0"],
               env=env)
    assert proc.returncode == 3, proc.stderr
    error, hint = error_lines(proc)
    (job,) = fast_emulator.state.dataplane.jobs.list(fast_emulator.config.default_account)
    assert error.startswith(f"Error: fine-tuning job {job.id} could not be checked (waited 2 s; the last check "
                            "failed: internalFailure: Injected internal error.)")
    assert "keeps running on the service" in error
    assert f"aoai-ft status {job.id}" in hint

"""A deliberate Ctrl-C while `aoai-ft train` waits is not an error: the user hears what happened (the job goes on)
and how to pick it up again, and the exit code is still 130."""
from __future__ import annotations

import os
import signal
import subprocess
import time
from pathlib import Path

import pytest

from pipeline.errors import PipelineError
from pipeline.jobs import JobStillRunning
from tests.pipeline.emulated import emulator_env, make_client, run_main, start

AOAI_FT = Path(__file__).resolve().parents[3] / ".venv" / "bin" / "aoai-ft"


def _default_sigint() -> None:
    """A suite started in the background inherits an ignored SIGINT; give the child the terminal's default."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def test_ctrl_c_while_training_is_reported_as_a_stop_not_an_error(datasets_dir: Path) -> None:
    emu = start(training_seconds=30.0)
    try:
        env = {**os.environ, **emulator_env(emu)}
        proc = subprocess.Popen([str(AOAI_FT), "train", "-t", str(datasets_dir / "training_set.jsonl"),
                                 "--poll-interval", "0.1"], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                text=True, preexec_fn=_default_sigint)
        client = make_client(emu)
        deadline = time.monotonic() + 30
        while not list(client.fine_tuning.jobs.list()) and time.monotonic() < deadline:
            time.sleep(0.1)
        time.sleep(0.5)
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=30)
        (job,) = client.fine_tuning.jobs.list()
    finally:
        emu.stop()
    assert proc.returncode == 130, (out, err)
    assert "Error" not in err and "Traceback" not in err and "Aborted" not in err, err
    lines = err.strip().splitlines()
    assert lines[0] == f"Stopped waiting (Ctrl-C): fine-tuning job {job.id} is still running on the service.", err
    assert lines[1].startswith("  to resume: ") and f"aoai-ft status {job.id}" in lines[1] and "aoai-ft train" in lines[1]


def test_a_deadline_that_runs_out_is_still_an_error(datasets_dir: Path, capsys: pytest.CaptureFixture[str],
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    """Only the Ctrl-C stop is told differently: --timeout running out stays an `Error:` line (exit 3)."""
    emu = start(training_seconds=30.0)
    try:
        for key, value in emulator_env(emu).items():
            monkeypatch.setenv(key, value)
        code, _, err = run_main(["train", "-t", str(datasets_dir / "training_set.jsonl"), "--poll-interval", "0.1",
                                 "--timeout", "1"], capsys)
    finally:
        emu.stop()
    assert code == 3 and err.startswith("Error: fine-tuning job ftjob-") and "(waited 1 s)" in err, err
    assert "  hint: follow it with `aoai-ft status ftjob-" in err
    assert PipelineError("x").interrupted is False
    assert JobStillRunning("ftjob-1", "running", "Ctrl-C", exit_code=130).interrupted is True

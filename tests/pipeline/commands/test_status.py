"""`aoai-ft status`: a job's fields, events and checkpoints; the job list without an id."""
from __future__ import annotations

import pytest

from pipeline.finetune import FineTuneRequest, ensure_fine_tuned_model
from tests.pipeline.emulated import emulator_env, invoke, run_main


def test_status_of_a_finished_job_and_the_list(fast_emulator, client, datasets_dir) -> None:
    result = ensure_fine_tuned_model(client, FineTuneRequest(training_path=datasets_dir / "training_set.jsonl",
                                                             n_epochs=2), timeout=60, poll_interval=0.1)
    shown = invoke(fast_emulator, ["status", result.job_id, "--events", "5"], terminal_width=250)
    assert shown.exit_code == 0, shown.output
    assert f"{result.job_id}: succeeded" in shown.output
    assert result.fine_tuned_model in shown.output and "n_epochs=2" in shown.output
    assert "events (newest first)" in shown.output and "The job has successfully completed" in shown.output
    assert "checkpoints" in shown.output and "ftchkpt-" in shown.output
    listed = invoke(fast_emulator, ["status"], terminal_width=250)
    assert listed.exit_code == 0 and result.job_id in listed.output and "succeeded" in listed.output


def test_status_of_unknown_job(fast_emulator) -> None:
    shown = invoke(fast_emulator, ["status", "ftjob-nope"])
    assert shown.exit_code == 1 and "Error: reading job ftjob-nope" in shown.output


def test_a_finished_jobs_elapsed_time_stops_when_it_finished(datasets_dir) -> None:
    """The emulator's clock stands still in 2025; a finished job must show how long it ran, not the time since."""
    import re

    from pipeline.emulator import EmulatorConfig, EmulatorServer
    from pipeline.emulator.clock import ManualClock
    from tests.pipeline.emulated import make_client

    clock = ManualClock()
    emu = EmulatorServer(EmulatorConfig(port=0, log_requests=False, training_seconds=90.0,
                                        file_processing_seconds=1.0), clock=clock).start()
    try:
        sdk = make_client(emu)
        with (datasets_dir / "training_set.jsonl").open("rb") as fh:
            file = sdk.files.create(file=("training_set.jsonl", fh), purpose="fine-tune")
        emu.state.dataplane.files.wait_for_check(file.id)  # the content check runs in real time, off the clock
        clock.advance(5)
        job = sdk.fine_tuning.jobs.create(model="gpt-4o-mini-2024-07-18", training_file=file.id)
        clock.advance(3600)
        job = sdk.fine_tuning.jobs.retrieve(job.id)
        assert job.status == "succeeded" and job.finished_at
        shown = invoke(emu, ["status", job.id, "--events", "0", "--no-checkpoints"])
    finally:
        emu.stop()
    assert shown.exit_code == 0, shown.output
    ran = int(job.finished_at - job.created_at)
    assert 60 <= ran < 600
    elapsed = re.search(r"elapsed (\S+)", shown.output)
    assert elapsed and elapsed.group(1) == f"{ran // 60}m{ran % 60:02d}s", shown.output
    assert "remaining" not in shown.output


@pytest.mark.parametrize("command", ["status", "report"])
@pytest.mark.parametrize("job_id", ["", "  "])
def test_an_empty_job_id_is_a_usage_error(fast_emulator, monkeypatch, capsys, command: str, job_id: str) -> None:
    """`aoai-ft status "$FINE_TUNING_JOB_ID"` with the variable unset: exit 2 and how to get an id, no traceback."""
    for name, value in emulator_env(fast_emulator).items():
        monkeypatch.setenv(name, value)
    code, out, err = run_main([command, job_id], capsys)
    assert code == 2, err
    assert "the job id is empty" in err and "aoai-ft status" in err and "Traceback" not in err

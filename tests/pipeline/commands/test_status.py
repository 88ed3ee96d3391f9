"""`aoai-ft status`: a job's fields, events and checkpoints; the job list without an id."""
from __future__ import annotations

from pipeline.finetune import FineTuneRequest, ensure_fine_tuned_model
from tests.pipeline.emulated import client, fast_emulator, invoke  # noqa: F401


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
    assert shown.exit_code == 1 and "reading job ftjob-nope" in shown.exception.message

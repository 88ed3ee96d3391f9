"""Jobs over the real SDK against the emulator: adopt instead of retrain, progress, failures, deadline,
injected 429/500s and an emulator restart mid-training."""
from __future__ import annotations

import threading
import time

import httpx
import pytest

from pipeline.errors import ServiceError
from pipeline.files import upload_training_file
from pipeline.jobs import JobProgress, JobStillRunning, TrainingSpec, find_adoptable_job, start_or_adopt, wait_for_job
from tests.pipeline.emulated import client, fast_emulator, make_client, start, write_bad_dataset  # noqa: F401


@pytest.fixture
def spec(client, datasets_dir) -> TrainingSpec:
    training = upload_training_file(client, datasets_dir / "training_set.jsonl", poll_interval=0.05)
    validation = upload_training_file(client, datasets_dir / "validation_set.jsonl", poll_interval=0.05)
    return TrainingSpec(training_file=training.id, validation_file=validation.id, suffix="teacher", seed=7)


def test_second_start_adopts_the_running_job(client, spec) -> None:
    job, adopted = start_or_adopt(client, spec)
    again, adopted_again = start_or_adopt(client, spec)
    assert (adopted, adopted_again) == (False, True) and again.id == job.id
    assert len(list(client.fine_tuning.jobs.list())) == 1


def test_progress_then_success_then_adopted_when_succeeded(client, spec) -> None:
    job, _ = start_or_adopt(client, spec)
    seen: list[JobProgress] = []
    done = wait_for_job(client, job.id, timeout=30, poll_interval=0.1, on_update=seen.append)
    assert done.status == "succeeded" and done.fine_tuned_model.endswith("-teacher")
    running = [p for p in seen if p.status == "running" and p.step]
    assert running, "no running observation with a step"
    assert running[0].total_steps and running[0].train_loss is not None and running[0].valid_loss is not None
    assert all(p.elapsed >= 0 for p in seen)
    assert seen[-1].status == "succeeded"
    # a succeeded job with the same inputs is adopted too: no second training
    assert start_or_adopt(client, spec) == (done, True) or start_or_adopt(client, spec)[0].id == done.id
    assert len(list(client.fine_tuning.jobs.list())) == 1


def test_other_settings_or_cancelled_jobs_are_not_adopted(client, spec) -> None:
    job, _ = start_or_adopt(client, spec)
    assert find_adoptable_job(client, spec.model_copy(update={"n_epochs": 5})) is None
    assert find_adoptable_job(client, spec.model_copy(update={"seed": 8})) is None
    assert find_adoptable_job(client, spec.model_copy(update={"validation_file": None})) is None
    client.fine_tuning.jobs.cancel(job.id)
    assert find_adoptable_job(client, spec) is None
    new, adopted = start_or_adopt(client, spec)
    assert not adopted and new.id != job.id


def test_a_second_job_while_one_runs_is_a_clear_error(client, spec) -> None:
    start_or_adopt(client, spec)
    with pytest.raises(ServiceError) as exc:
        start_or_adopt(client, spec.model_copy(update={"seed": 99}))
    assert "one job runs at a time" in exc.value.hint


def test_failed_job_surfaces_the_job_error(client, spec, tmp_path) -> None:
    bad = write_bad_dataset(tmp_path / "bad_validation.jsonl")
    with bad.open("rb") as fh:
        bad_file = client.files.create(file=("bad_validation.jsonl", fh), purpose="fine-tune")
    deadline = time.monotonic() + 10
    while client.files.retrieve(bad_file.id).status != "error" and time.monotonic() < deadline:
        time.sleep(0.05)
    job, _ = start_or_adopt(client, spec.model_copy(update={"validation_file": bad_file.id}))
    with pytest.raises(ServiceError) as exc:
        wait_for_job(client, job.id, timeout=30, poll_interval=0.1)
    assert f"job {job.id} failed" in exc.value.message and "validation_file" in exc.value.message
    assert find_adoptable_job(client, spec.model_copy(update={"validation_file": bad_file.id})) is None


def test_deadline_says_how_to_resume(client, spec) -> None:
    job, _ = start_or_adopt(client, spec)
    with pytest.raises(JobStillRunning) as exc:
        wait_for_job(client, job.id, timeout=0.3, poll_interval=0.1)
    assert exc.value.job_id == job.id and f"aoai-ft status {job.id}" in exc.value.hint
    assert "aoai-ft train" in exc.value.hint


def test_unknown_job_is_a_service_error(client) -> None:
    with pytest.raises(ServiceError, match="not found"):
        wait_for_job(client, "ftjob-doesnotexist", timeout=5, poll_interval=0.1)


def test_injected_429s_and_500s_are_survived(fast_emulator, spec) -> None:
    client = make_client(fast_emulator, max_retries=4)
    for rule in ({"route": "/fine_tuning/jobs", "kind": "429", "seconds": 0.1, "count": 2},
                 {"route": "/fine_tuning/jobs", "kind": "500", "count": 2}):
        httpx.post(f"{fast_emulator.url}/admin/faults", json=rule, headers={"api-key": fast_emulator.api_key}).raise_for_status()
    job, _ = start_or_adopt(client, spec)
    done = wait_for_job(client, job.id, timeout=30, poll_interval=0.1)
    assert done.status == "succeeded"
    fired = {r["kind"]: r["fired"] for r in httpx.get(f"{fast_emulator.url}/admin/faults", headers={"api-key": fast_emulator.api_key}).json()["rules"]}
    assert fired == {"429": 2, "500": 2}


def test_wait_survives_an_emulator_restart_mid_training(tmp_path, datasets_dir) -> None:
    emu = start(data_dir=tmp_path / "emu", training_seconds=3.0)
    try:
        client = make_client(emu, max_retries=1)
        training = upload_training_file(client, datasets_dir / "training_set.jsonl", poll_interval=0.05)
        job, _ = start_or_adopt(client, TrainingSpec(training_file=training.id))
        seen: list[JobProgress] = []
        outcome: dict[str, object] = {}

        def wait() -> None:
            try:
                outcome["job"] = wait_for_job(client, job.id, timeout=60, poll_interval=0.1, on_update=seen.append)
            except Exception as exc:  # reported below
                outcome["error"] = exc

        waiter = threading.Thread(target=wait)
        waiter.start()
        deadline = time.monotonic() + 10
        while not any(p.status == "running" for p in seen) and time.monotonic() < deadline:
            time.sleep(0.05)
        emu.stop()
        time.sleep(1.0)  # the waiter sees connection errors now
        emu.start()
        waiter.join(timeout=60)
        assert "error" not in outcome, outcome.get("error")
        assert outcome["job"].status == "succeeded"
        assert any(p.note and "still polling" in p.note for p in seen)
    finally:
        emu.stop()


def test_progress_lines_for_logs_and_live_bar() -> None:
    import io

    from rich.console import Console

    from pipeline.progress import JobProgressDisplay, describe, format_duration

    assert format_duration(3725) == "1h02m05s" and format_duration(65) == "1m05s" and format_duration(None) == "?"
    p = JobProgress(job_id="ftjob-1", status="running", step=5, total_steps=10, train_loss=1.23456, valid_loss=1.3,
                    elapsed=65, remaining=30)
    assert describe(p) == ("running | step 5/10 | train_loss 1.2346 | valid_loss 1.3000 | elapsed 1m05s"
                           " | remaining ~0m30s")
    plain = io.StringIO()
    with JobProgressDisplay(Console(file=plain, width=200)) as show:
        for _ in range(3):
            show(p)  # unchanged: one line only
        show(p.model_copy(update={"step": 6}))
    assert plain.getvalue().count("ftjob-1: running") == 2
    live = io.StringIO()
    with JobProgressDisplay(Console(file=live, force_terminal=True, width=200)) as show:
        show(p)
    assert "step 5/10" in live.getvalue()

"""Jobs over the real SDK against the emulator: adopt instead of retrain, progress, failures, deadline,
injected 429/500s and an emulator restart mid-training."""
from __future__ import annotations

import threading
import time

import pytest

from pipeline.errors import ServiceError
from pipeline.files import upload_file
from pipeline.jobs import JobProgress, JobStillRunning, TrainingSpec, find_adoptable_job, start_or_adopt, wait_for_job
from tests import loopback
from tests.pipeline.emulated import make_client, start, write_bad_dataset


@pytest.fixture
def spec(client, datasets_dir) -> TrainingSpec:
    training = upload_file(client, datasets_dir / "training_set.jsonl", poll_interval=0.05).file
    validation = upload_file(client, datasets_dir / "validation_set.jsonl", poll_interval=0.05).file
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
        loopback.post(f"{fast_emulator.url}/admin/faults", json=rule, headers={"api-key": fast_emulator.api_key}).raise_for_status()
    job, _ = start_or_adopt(client, spec)
    done = wait_for_job(client, job.id, timeout=30, poll_interval=0.1)
    assert done.status == "succeeded"
    fired = {r["kind"]: r["fired"] for r in loopback.get(f"{fast_emulator.url}/admin/faults", headers={"api-key": fast_emulator.api_key}).json()["rules"]}
    assert fired == {"429": 2, "500": 2}


def test_wait_survives_an_emulator_restart_mid_training(tmp_path, datasets_dir) -> None:
    emu = start(data_dir=tmp_path / "emu", training_seconds=3.0)
    try:
        client = make_client(emu, max_retries=1)
        training = upload_file(client, datasets_dir / "training_set.jsonl", poll_interval=0.05).file
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


# ---- checkpoints: what a finished job kept, and which model a deployCheckpoint value names ------------------------

def _train(client, datasets_dir, *, epochs: int, validation: bool = True):
    from pipeline.finetune import FineTuneRequest, ensure_fine_tuned_model

    request = FineTuneRequest(training_path=datasets_dir / "training_set.jsonl",
                              validation_path=datasets_dir / "validation_set.jsonl" if validation else None,
                              n_epochs=epochs, seed=3)
    return ensure_fine_tuned_model(client, request, timeout=60, poll_interval=0.1)


def test_checkpoints_of_a_finished_job_over_the_sdk(client, datasets_dir) -> None:
    """Four epochs: the service keeps the last three checkpoints; the records carry the SDK's steps, names and
    losses, and the final model comes last at the final step with that step's losses."""
    from pipeline.jobs import BEST_VALIDATION_LOSS, CheckpointNotAvailable, choose_checkpoint, list_checkpoints

    result = _train(client, datasets_dir, epochs=4)
    raw = sorted(client.fine_tuning.jobs.checkpoints.list(result.job_id), key=lambda p: p.step_number)
    assert len(raw) == 3  # the first epoch's checkpoint was not kept

    points = list_checkpoints(client, result.job_id, final_model=result.fine_tuned_model)
    *kept, final = points
    assert [(p.step, p.model) for p in kept] == [(p.step_number, p.fine_tuned_model_checkpoint) for p in raw]
    assert all(p.model == f"{result.fine_tuned_model}:ckpt-step-{p.step}" and not p.final for p in kept)
    assert [p.valid_loss for p in kept] == [p.metrics.full_valid_loss for p in raw]  # the whole validation file
    assert [p.train_loss for p in kept] == [p.metrics.train_loss for p in raw]
    assert final.final and final.model == result.fine_tuned_model and final.step == raw[-1].step_number
    assert (final.train_loss, final.valid_loss) == (kept[-1].train_loss, kept[-1].valid_loss)
    assert list_checkpoints(client, result.job_id) == kept  # without final_model: only what the service kept

    # a kept step is its checkpoint; the last step is the final model; a step not kept lists those that were
    assert choose_checkpoint(str(kept[0].step), points, job_id=result.job_id) == kept[0]
    assert choose_checkpoint(final.step, points, job_id=result.job_id) == final
    first_epoch = kept[0].step - (kept[1].step - kept[0].step)
    with pytest.raises(CheckpointNotAvailable) as info:
        choose_checkpoint(first_epoch, points, job_id=result.job_id)
    steps = ", ".join(str(p.step) for p in kept[:-1]) + f", {final.step} (the final model)"
    assert info.value.message == (f"job {result.job_id} has no checkpoint at step {first_epoch}; "
                                  f"the service kept steps {steps}")

    # the lowest full validation loss the SDK reports; the final model when that is the last step
    lowest = min(raw, key=lambda p: (p.metrics.full_valid_loss, -p.step_number))
    best = choose_checkpoint(BEST_VALIDATION_LOSS, points, job_id=result.job_id)
    expected = result.fine_tuned_model if lowest is raw[-1] else lowest.fine_tuned_model_checkpoint
    assert best.model == expected and best.valid_loss == lowest.metrics.full_valid_loss


def test_best_validation_loss_needs_a_validation_file(client, datasets_dir) -> None:
    from pipeline.jobs import CheckpointNotAvailable, choose_checkpoint, list_checkpoints

    result = _train(client, datasets_dir, epochs=2, validation=False)
    points = list_checkpoints(client, result.job_id, final_model=result.fine_tuned_model)
    assert len(points) == 3 and all(p.valid_loss is None and p.train_loss is not None for p in points)
    with pytest.raises(CheckpointNotAvailable, match="reports no validation loss") as info:
        choose_checkpoint("best-validation-loss", points, job_id=result.job_id)
    assert "validation file" in (info.value.hint or "")
    assert choose_checkpoint("final", points, job_id=result.job_id).model == result.fine_tuned_model


def test_choosing_among_records() -> None:
    """The rules on their own: ties go to the later step and the final model; bad values say what is allowed."""
    from pipeline.jobs import Checkpoint, choose_checkpoint, parse_checkpoint_choice

    points = [Checkpoint(step=10, model="m:ckpt-step-10", valid_loss=0.5),
              Checkpoint(step=20, model="m:ckpt-step-20", valid_loss=0.3),
              Checkpoint(step=30, model="m:ckpt-step-30", valid_loss=0.3),
              Checkpoint(step=30, model="m", valid_loss=0.3, final=True)]
    assert choose_checkpoint("best-validation-loss", points, job_id="j").model == "m"
    assert choose_checkpoint("best-validation-loss", points[:2], job_id="j").model == "m:ckpt-step-20"
    lower_earlier = [Checkpoint(step=10, model="m:ckpt-step-10", valid_loss=0.2), *points[1:]]
    assert choose_checkpoint("best-validation-loss", lower_earlier, job_id="j").model == "m:ckpt-step-10"
    assert choose_checkpoint(" 20 ", points, job_id="j").model == "m:ckpt-step-20"
    assert Checkpoint.model_validate(points[0].model_dump()) == points[0]  # survives Pulumi's state (plain JSON)
    for bad in ("0", "-5", "best", "last", "1.5", ""):
        with pytest.raises(ValueError, match="final, best-validation-loss, or a step number"):
            parse_checkpoint_choice(bad)

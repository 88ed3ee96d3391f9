"""Job progress on a ManualClock: statuses, steps, events paging, checkpoints, pause/resume, cancel, failure,
deletion, and a restart on the same data dir continuing a running job."""
from __future__ import annotations

import openai
import pytest

from pipeline.clients import http_client
from pipeline.emulator import EmulatorConfig, EmulatorServer
from pipeline.emulator.clock import ManualClock
from tests import loopback

TRAINING_SECONDS = 100.0


@pytest.fixture
def clock():
    return ManualClock()


@pytest.fixture
def manual_emu(clock, tmp_path):
    config = EmulatorConfig(port=0, training_seconds=TRAINING_SECONDS, file_processing_seconds=1.0,
                            log_requests=False, data_dir=tmp_path / "state")
    with EmulatorServer(config, clock=clock) as emu:
        yield emu


def _client(emu, version="2025-04-01-preview"):
    return openai.AzureOpenAI(azure_endpoint=emu.url, api_key=emu.api_key, api_version=version,
                              http_client=http_client())


def _upload(emu, clock, path):
    client = _client(emu)
    with path.open("rb") as fh:
        created = client.files.create(file=fh, purpose="fine-tune")
    assert created.status == "pending"
    clock.advance(0.6)
    emu.state.dataplane.files.wait_for_check(created.id)
    assert client.files.retrieve(created.id).status == "running"  # the clock says it is still being processed
    clock.advance(0.5)
    return client.files.retrieve(created.id)


def test_progress_events_and_checkpoints_follow_the_clock(manual_emu, clock, training_path, validation_path):
    client = _client(manual_emu)
    training, validation = _upload(manual_emu, clock, training_path), _upload(manual_emu, clock, validation_path)
    job = client.fine_tuning.jobs.create(model="gpt-4o-mini-2024-07-18", training_file=training.id,
                                         validation_file=validation.id, hyperparameters={"n_epochs": 5})
    assert job.status == "pending"
    assert job.estimated_finish == int(job.created_at + TRAINING_SECONDS) or abs(
        job.estimated_finish - (job.created_at + TRAINING_SECONDS)) <= 1
    clock.advance(9)
    assert client.fine_tuning.jobs.retrieve(job.id).status == "pending"
    clock.advance(2)
    assert client.fine_tuning.jobs.retrieve(job.id).status == "running"
    assert client.fine_tuning.jobs.checkpoints.list(job.id).data == []
    clock.advance(45)  # a bit past half way: 2 of 5 epochs done
    steps_seen = [e.data["step"] for e in client.fine_tuning.jobs.list_events(job.id, limit=1000).data
                  if e.type == "metrics"]
    total = 5 * 57
    assert 0.45 * total < max(steps_seen) < 0.55 * total
    assert [c.step_number for c in client.fine_tuning.jobs.checkpoints.list(job.id).data] == [114, 57]
    clock.advance(50)
    done = client.fine_tuning.jobs.retrieve(job.id)
    assert done.status == "succeeded"
    checkpoints = client.fine_tuning.jobs.checkpoints.list(job.id).data
    assert [c.step_number for c in checkpoints] == [285, 228, 171]  # one per epoch, last three kept
    # the kept checkpoints are deployable models (what the ARM plane checks)
    assert manual_emu.state.models.exists("emulator", checkpoints[-1].fine_tuned_model_checkpoint)
    assert not manual_emu.state.models.exists("emulator", done.fine_tuned_model + ":ckpt-step-57")

    # paging: newest first, `after` continues, has_more stops at the end
    first = client.fine_tuning.jobs.list_events(job.id, limit=4)
    assert first.has_more and len(first.data) == 4
    second = client.fine_tuning.jobs.list_events(job.id, limit=4, after=first.data[-1].id)
    assert second.data[0].created_at <= first.data[-1].created_at
    assert not {e.id for e in first.data} & {e.id for e in second.data}
    all_events = list(client.fine_tuning.jobs.list_events(job.id, limit=50))
    assert all_events[-1].message.startswith("Created fine-tuning job")
    assert sum(e.type == "metrics" for e in all_events) == total


def test_losses_are_deterministic_and_decreasing():
    from pipeline.emulator.dataplane.simulation import loss_curve

    a, b = loss_curve("ftjob-x", 300, 1), loss_curve("ftjob-x", 300, 1)
    assert (a.train_loss == b.train_loss).all()
    assert not (a.train_loss == loss_curve("ftjob-y", 300, 1).train_loss).all()
    assert a.train_loss[:30].mean() > a.train_loss[135:165].mean() > a.train_loss[-30:].mean()
    assert (a.train_acc >= 0).all() and (a.train_acc <= 1).all()


def test_pause_resume_cancel_and_delete(manual_emu, clock, training_path):
    client = _client(manual_emu)
    training = _upload(manual_emu, clock, training_path)
    job = client.fine_tuning.jobs.create(model="gpt-4o-mini-2024-07-18", training_file=training.id)
    with pytest.raises(openai.BadRequestError):  # nothing trained yet
        client.fine_tuning.jobs.pause(job.id)
    ga = _client(manual_emu, "2024-10-21")
    clock.advance(30)
    with pytest.raises(openai.NotFoundError):  # pause does not exist on the GA api-version
        ga.fine_tuning.jobs.pause(job.id)
    paused = client.fine_tuning.jobs.pause(job.id)
    assert paused.status == "paused" and paused.estimated_finish is None
    clock.advance(1000)  # time passes, the job does not
    assert client.fine_tuning.jobs.retrieve(job.id).status == "paused"
    resumed = client.fine_tuning.jobs.resume(job.id)
    assert resumed.status == "running"
    assert abs(resumed.estimated_finish - (job.created_at + TRAINING_SECONDS + 1000)) <= 1
    messages = [e.message for e in client.fine_tuning.jobs.list_events(job.id, limit=500)]
    assert "Fine-tuning job paused" in messages and "Fine-tuning job resumed" in messages
    with pytest.raises(openai.BadRequestError):  # still active: cancel first
        client.delete(f"/fine_tuning/jobs/{job.id}", cast_to=object)
    cancelled = client.fine_tuning.jobs.cancel(job.id)
    assert cancelled.status == "cancelled" and cancelled.fine_tuned_model is None
    clock.advance(1000)
    assert client.fine_tuning.jobs.retrieve(job.id).status == "cancelled"
    with pytest.raises(openai.BadRequestError):
        client.fine_tuning.jobs.cancel(job.id)
    r = loopback.delete(f"{manual_emu.url}/openai/fine_tuning/jobs/{job.id}?api-version=2024-10-21",
                        headers={"api-key": manual_emu.api_key})
    assert r.status_code == 204
    with pytest.raises(openai.NotFoundError):
        client.fine_tuning.jobs.retrieve(job.id)


def test_a_validation_file_in_error_fails_the_job(manual_emu, clock, training_path, bad_training_path):
    client = _client(manual_emu)
    training = _upload(manual_emu, clock, training_path)
    bad = _upload(manual_emu, clock, bad_training_path)
    assert bad.status == "error"
    job = client.fine_tuning.jobs.create(model="gpt-4o-mini-2024-07-18", training_file=training.id,
                                         validation_file=bad.id)
    assert job.status == "pending"
    clock.advance(TRAINING_SECONDS * 0.1 + 1)
    failed = client.fine_tuning.jobs.retrieve(job.id)
    assert failed.status == "failed" and failed.error.param == "validation_file"
    assert "line 3" in failed.error.message and failed.finished_at is not None
    assert client.fine_tuning.jobs.list_events(job.id).data[0].level == "error"


def test_restart_on_the_same_data_dir_continues_a_running_job(tmp_path, training_path):
    clock = ManualClock()
    config = EmulatorConfig(port=0, training_seconds=TRAINING_SECONDS, file_processing_seconds=1.0,
                            log_requests=False, data_dir=tmp_path / "state")
    with EmulatorServer(config, clock=clock) as emu:
        training = _upload(emu, clock, training_path)
        job = _client(emu).fine_tuning.jobs.create(model="gpt-4o-mini-2024-07-18", training_file=training.id)
        clock.advance(50)
        before = _client(emu).fine_tuning.jobs.retrieve(job.id)
        assert before.status == "running"
        steps_before = _client(emu).fine_tuning.jobs.list_events(job.id, limit=1).data[0].data["step"]
    with EmulatorServer(config, clock=clock) as emu:  # same port, same data dir
        client = _client(emu)
        assert client.files.content(training.id).content == training_path.read_bytes()
        again = client.fine_tuning.jobs.retrieve(job.id)
        assert again.status == "running" and again.estimated_finish == before.estimated_finish
        assert client.fine_tuning.jobs.list_events(job.id, limit=1).data[0].data["step"] == steps_before
        clock.advance(60)
        assert client.fine_tuning.jobs.retrieve(job.id).status == "succeeded"

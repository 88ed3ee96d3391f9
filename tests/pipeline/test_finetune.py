"""The one-call training step the stack uses: idempotent create, and a delete that cleans up."""
from __future__ import annotations

import openai
import pytest

from pipeline.finetune import FineTuneRequest, FineTuneResult, delete_fine_tuned_model, ensure_fine_tuned_model


@pytest.fixture
def request_(datasets_dir) -> FineTuneRequest:
    return FineTuneRequest(training_path=datasets_dir / "training_set.jsonl",
                           validation_path=datasets_dir / "validation_set.jsonl", suffix="teacher", n_epochs=2)


def test_ensure_then_rerun_reuses_everything(client, request_) -> None:
    updates = []
    first = ensure_fine_tuned_model(client, request_, timeout=60, poll_interval=0.1, on_update=updates.append)
    assert first.fine_tuned_model.startswith("gpt-4o-mini-2024-07-18.ft-") and first.base_model == request_.model
    assert first.trained_tokens and first.result_file_id and first.validation_file_id
    assert updates and updates[-1].status == "succeeded"
    job = client.fine_tuning.jobs.retrieve(first.job_id)
    assert job.hyperparameters.n_epochs == 2 and job.training_file == first.training_file_id

    again = ensure_fine_tuned_model(client, request_, timeout=60, poll_interval=0.1)
    assert again == first
    assert len(list(client.fine_tuning.jobs.list())) == 1
    assert len(list(client.files.list(purpose="fine-tune"))) == 2

    # survives Pulumi's state round trip (plain JSON)
    assert FineTuneResult.model_validate_json(first.model_dump_json()) == first


def test_delete_removes_model_and_files_and_tolerates_a_second_call(client, request_) -> None:
    result = ensure_fine_tuned_model(client, request_, timeout=60, poll_interval=0.1)
    assert result.fine_tuned_model in {m.id for m in client.models.list()}
    report = delete_fine_tuned_model(client, result)
    assert report.model_deleted is True
    assert set(report.files_deleted) == {result.training_file_id, result.validation_file_id, result.result_file_id}
    assert result.fine_tuned_model not in {m.id for m in client.models.list()}
    with pytest.raises(openai.NotFoundError):
        client.files.retrieve(result.training_file_id)
    again = delete_fine_tuned_model(client, result)
    assert again.model_deleted is False and again.files_deleted == []

"""Preference fine-tuning (DPO) and continuous fine-tuning through the official `openai` SDK against the emulator:
supervised and DPO jobs created with `method=`, their own metrics and events, Azure's refusals, and a job that
continues from a fine-tuned model."""
from __future__ import annotations

import csv
import io
from pathlib import Path
from typing import Any

import openai
import pytest

from pipeline.clients import http_client
from pipeline.dataset.methods import DPO_MODELS
from pipeline.emulator.dataplane.simulation import DPO_RESULTS_HEADER, RESULTS_HEADER
from tests import loopback
from tests.pipeline.emulator.conftest import wait_for_job

ROOT = Path(__file__).resolve().parents[3]
DPO_TRAINING = ROOT / "datasets" / "preference_training_set.jsonl"
DPO_VALIDATION = ROOT / "datasets" / "preference_validation_set.jsonl"
CHAT_TRAINING = ROOT / "datasets" / "training_set.jsonl"
DPO_MODEL = "gpt-4.1-mini-2025-04-14"
PREVIEW = "2025-04-01-preview"


def azure(emu: Any, api_version: str = PREVIEW) -> openai.AzureOpenAI:
    return openai.AzureOpenAI(azure_endpoint=emu.url, api_key=emu.api_key, api_version=api_version,
                              http_client=http_client())


def upload(client: openai.AzureOpenAI, path: Path) -> str:
    with path.open("rb") as fh:
        file_id = client.files.create(file=fh, purpose="fine-tune").id
    assert client.files.wait_for_processing(file_id, poll_interval=0.05).status == "processed"
    return file_id


def results_rows(client: openai.AzureOpenAI, job: Any) -> list[dict[str, str]]:
    text = client.files.content(job.result_files[0]).text
    return list(csv.DictReader(io.StringIO(text)))


def test_dpo_job_trains_with_its_own_metrics_events_and_results(fast_emulator: Any) -> None:
    client = azure(fast_emulator)
    training, validation = upload(client, DPO_TRAINING), upload(client, DPO_VALIDATION)
    job = client.fine_tuning.jobs.create(
        model=DPO_MODEL, training_file=training, validation_file=validation, suffix="pref",
        method={"type": "dpo", "dpo": {"hyperparameters": {"beta": 0.2, "n_epochs": 2}}})
    assert job.method.type == "dpo" and job.method.dpo.hyperparameters.beta == 0.2
    job = wait_for_job(client, job.id)
    assert job.status == "succeeded", job.error
    assert job.fine_tuned_model.startswith(DPO_MODEL + ".ft-") and job.fine_tuned_model.endswith("-pref")
    assert job.method.dpo.hyperparameters.n_epochs == 2

    events = list(client.fine_tuning.jobs.list_events(job.id, limit=100))
    messages = [e.message for e in events]
    assert "Training with direct preference optimization (DPO), beta=0.2" in messages
    metrics = [e.data for e in events if e.type == "metrics"]
    assert metrics and {"train_loss", "train_reward_accuracy", "train_reward_margin", "valid_loss",
                        "valid_reward_accuracy"} <= set(metrics[0])
    assert "reward accuracy=" in next(e.message for e in events if e.type == "metrics")

    rows = results_rows(client, job)
    assert list(rows[0]) == DPO_RESULTS_HEADER.split(",")
    first, last = rows[0], rows[-1]
    assert abs(float(first["train_loss"]) - 0.69) < 0.15  # starts near ln 2: the replies not yet told apart
    assert float(last["train_reward_accuracy"]) > float(first["train_reward_accuracy"])
    assert float(last["train_reward_margin"]) > float(first["train_reward_margin"])
    assert last["full_valid_reward_accuracy"]  # epoch end

    # trained_tokens is the dataset library's DPO billing figure for the same file and epochs
    from pipeline.dataset import validate_file
    report = validate_file(DPO_TRAINING, model=DPO_MODEL)
    assert report.method == "dpo"
    assert job.trained_tokens == report.billing.billed_tokens // report.billing.epochs * 2

    checkpoint = client.fine_tuning.jobs.checkpoints.list(job.id).data[0]
    assert checkpoint.metrics.to_dict()["full_valid_reward_accuracy"] > 0.5


def test_supervised_job_through_method_keeps_the_chat_metrics(fast_emulator: Any) -> None:
    client = azure(fast_emulator)
    job = client.fine_tuning.jobs.create(
        model="gpt-4o-mini-2024-07-18", training_file=upload(client, CHAT_TRAINING),
        method={"type": "supervised", "supervised": {"hyperparameters": {"n_epochs": 1}}})
    job = wait_for_job(client, job.id)
    assert job.status == "succeeded" and job.method.type == "supervised"
    assert job.hyperparameters.n_epochs == 1
    assert list(results_rows(client, job)[0]) == RESULTS_HEADER.split(",")


@pytest.mark.parametrize("model", ["gpt-4o-mini-2024-07-18", "gpt-35-turbo-0125", "gpt-4.1-nano-2025-04-14"])
def test_dpo_is_refused_for_models_azure_does_not_train_with_it(fast_emulator: Any, model: str) -> None:
    client = azure(fast_emulator)
    training = upload(client, DPO_TRAINING)
    with pytest.raises(openai.BadRequestError) as refused:
        client.fine_tuning.jobs.create(model=model, training_file=training, method={"type": "dpo"})
    error = refused.value.body
    assert error["code"] == "invalidPayload" and error["param"] == "model"
    assert "direct preference optimization" in error["message"] and all(m in error["message"] for m in DPO_MODELS)
    assert client.fine_tuning.jobs.list().data == []  # nothing was created


def test_the_file_format_must_match_the_method(fast_emulator: Any) -> None:
    client = azure(fast_emulator)
    chat, pairs = upload(client, CHAT_TRAINING), upload(client, DPO_TRAINING)
    with pytest.raises(openai.BadRequestError) as refused:
        client.fine_tuning.jobs.create(model=DPO_MODEL, training_file=chat, method={"type": "dpo"})
    assert refused.value.body["param"] == "training_file"
    assert "preference format" in refused.value.body["message"]
    with pytest.raises(openai.BadRequestError) as refused:
        client.fine_tuning.jobs.create(model=DPO_MODEL, training_file=pairs)  # supervised by default
    assert refused.value.body["param"] == "training_file" and "chat format" in refused.value.body["message"]
    assert client.fine_tuning.jobs.list().data == []


def test_dpo_needs_a_preview_or_v1_api_version(fast_emulator: Any) -> None:
    client = azure(fast_emulator)
    training = upload(client, DPO_TRAINING)
    with pytest.raises(openai.BadRequestError) as refused:
        azure(fast_emulator, "2024-10-21").fine_tuning.jobs.create(model=DPO_MODEL, training_file=training,
                                                                   method={"type": "dpo"})
    assert refused.value.body["param"] == "method" and "2025-04-01-preview" in refused.value.body["message"]


@pytest.mark.parametrize("beta", [0, -1, 3])
def test_beta_out_of_range_is_refused(fast_emulator: Any, beta: float) -> None:
    client = azure(fast_emulator)
    training = upload(client, DPO_TRAINING)
    with pytest.raises(openai.BadRequestError) as refused:
        client.fine_tuning.jobs.create(model=DPO_MODEL, training_file=training,
                                       method={"type": "dpo", "dpo": {"hyperparameters": {"beta": beta}}})
    assert refused.value.body["param"] == "method.dpo.hyperparameters.beta"


def test_continued_job_starts_from_a_fine_tuned_model_and_keeps_the_lineage(fast_emulator: Any) -> None:
    """Supervised first, then DPO on top of the fine-tuned model (Azure's documented path for DPO)."""
    client = azure(fast_emulator)
    first = wait_for_job(client, client.fine_tuning.jobs.create(
        model=DPO_MODEL, training_file=upload(client, CHAT_TRAINING), suffix="sft").id)
    assert first.status == "succeeded"
    parent = first.fine_tuned_model
    second = client.fine_tuning.jobs.create(model=parent, training_file=upload(client, DPO_TRAINING), suffix="dpo",
                                            method={"type": "dpo", "dpo": {"hyperparameters": {"beta": 0.1}}})
    assert second.model == parent
    second = wait_for_job(client, second.id)
    assert second.status == "succeeded", second.error
    assert second.fine_tuned_model.startswith(DPO_MODEL + ".ft-") and second.fine_tuned_model != parent
    messages = [e.message for e in client.fine_tuning.jobs.list_events(second.id, limit=100)]
    assert f"Continuing training from fine-tuned model: {parent}" in messages
    model = client.models.retrieve(second.fine_tuned_model)
    assert model.to_dict()["model"] == DPO_MODEL and model.to_dict()["fine_tune"] == second.id
    assert {parent, second.fine_tuned_model} <= {m.id for m in client.models.list()}
    # the continued model answers from what its parent learned and from its own (preferred) replies
    from pipeline.emulator.dataplane.training import question_answer_pairs
    learned = dict(question_answer_pairs(fast_emulator.state.models.training_data_of(second.fine_tuned_model)))
    chat_answers = {q: a for q, a in question_answer_pairs(CHAT_TRAINING)}
    preferred = {q: a for q, a in question_answer_pairs(DPO_TRAINING)}
    assert preferred.items() <= learned.items() and set(chat_answers) <= set(learned)
    assert not any(a.startswith("I think ") and a.endswith("it depends, really.") for a in learned.values())


def test_continuing_from_a_model_of_another_resource_is_refused(fast_emulator: Any) -> None:
    client = azure(fast_emulator)
    training = upload(client, CHAT_TRAINING)
    with pytest.raises(openai.BadRequestError) as refused:
        client.fine_tuning.jobs.create(model=DPO_MODEL + ".ft-" + "0" * 32, training_file=training)
    assert refused.value.body["param"] == "model"


def test_azure_rest_example_shape_with_beta_right_under_dpo(fast_emulator: Any) -> None:
    """Microsoft Learn's DPO REST example sends `"dpo": {"beta": 0.1, "l2_multiplier": 0.1}` on /openai/v1."""

    client = azure(fast_emulator)
    training = upload(client, DPO_TRAINING)
    response = loopback.post(f"{fast_emulator.url.rstrip('/')}/openai/v1/fine_tuning/jobs",
                             headers={"api-key": fast_emulator.api_key},
                             json={"model": DPO_MODEL, "training_file": training, "suffix": "Pause_Resume",
                                "method": {"type": "dpo", "dpo": {"beta": 0.3, "l2_multiplier": 0.1}}})
    assert response.status_code == 200, response.text
    job = response.json()
    assert job["method"]["type"] == "dpo" and job["method"]["dpo"]["hyperparameters"]["beta"] == 0.3

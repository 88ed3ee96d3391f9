"""The whole data-plane flow through the official `openai` SDK over loopback: upload, wait for processing,
create, poll, events, checkpoints, results file, models, chat on a deployment, delete."""
from __future__ import annotations

import csv
import io

import openai
import pytest

from pipeline.dataset.tokenizer import get_encoding
from pipeline.emulator.dataplane.simulation import RESULTS_HEADER

QUESTION = "What is artificial intelligence?"


@pytest.mark.parametrize("api_version", ["2024-10-21", "2025-04-01-preview"])
def test_full_flow_with_azure_client(emulator, training_path, validation_path, deploy, job_waiter, api_version):
    client = openai.AzureOpenAI(azure_endpoint=emulator.url, api_key=emulator.api_key, api_version=api_version)

    with training_path.open("rb") as fh:
        uploaded = client.files.create(file=fh, purpose="fine-tune")
    assert uploaded.status == "pending" and uploaded.filename == "training_set.jsonl"
    assert uploaded.bytes == training_path.stat().st_size
    training = client.files.wait_for_processing(uploaded.id, poll_interval=0.05)
    assert training.status == "processed"
    with validation_path.open("rb") as fh:
        validation = client.files.wait_for_processing(client.files.create(file=fh, purpose="fine-tune").id,
                                                      poll_interval=0.05)
    assert client.files.content(training.id).content == training_path.read_bytes()
    assert {f.id for f in client.files.list(purpose="fine-tune")} == {training.id, validation.id}

    job = client.fine_tuning.jobs.create(model="gpt-4o-mini-2024-07-18", training_file=training.id,
                                         validation_file=validation.id, suffix="lab", seed=7,
                                         hyperparameters={"n_epochs": 3})
    assert job.status == "pending" and job.fine_tuned_model is None and job.estimated_finish is not None
    job = job_waiter(client, job.id)
    assert job.status == "succeeded", job.error
    assert job.fine_tuned_model.startswith("gpt-4o-mini-2024-07-18.ft-") and job.fine_tuned_model.endswith("-lab")
    assert len(job.fine_tuned_model.split(".ft-")[1].split("-")[0]) == 32
    assert job.finished_at is not None and job.trained_tokens > 0
    assert job.hyperparameters.n_epochs == 3
    assert job.to_dict()["organisation_id"] == job.organization_id

    # trained_tokens is the dataset library's billing figure for the same file and epochs
    from pipeline.dataset import validate_file
    report = validate_file(training_path, model="gpt-4o-mini-2024-07-18")
    assert job.trained_tokens == report.billing.billed_tokens // report.billing.epochs * 3

    events = list(client.fine_tuning.jobs.list_events(job.id, limit=7))  # auto-pages through all events
    assert events[0].message == "The job has successfully completed"
    assert [e.created_at for e in events] == sorted((e.created_at for e in events), reverse=True)
    metrics = [e for e in events if e.type == "metrics"]
    assert metrics and {"step", "train_loss", "valid_loss"} <= set(metrics[0].data)
    assert len({e.id for e in events}) == len(events)

    checkpoints = client.fine_tuning.jobs.checkpoints.list(job.id).data
    assert len(checkpoints) == 3 and all(c.id.startswith("ftchkpt-") and len(c.id) == 8 + 32 for c in checkpoints)
    assert checkpoints[0].fine_tuned_model_checkpoint.startswith(job.fine_tuned_model + ":ckpt-step-")

    results = client.files.content(job.result_files[0]).text
    rows = list(csv.DictReader(io.StringIO(results)))
    assert results.splitlines()[0] == RESULTS_HEADER
    assert int(rows[-1]["step"]) == checkpoints[0].step_number
    first, last = float(rows[0]["train_loss"]), float(rows[-1]["train_loss"])
    assert last < first / 2  # the curve really goes down
    assert client.files.retrieve(job.result_files[0]).purpose == "fine-tune-results"

    model_ids = [m.id for m in client.models.list()]
    assert "gpt-4o-mini-2024-07-18" in model_ids and job.fine_tuned_model in model_ids
    assert client.models.retrieve(job.fine_tuned_model).to_dict()["fine_tune"] == job.id

    # chat: the fine-tuned deployment answers from its training data, the base one generically
    deploy(emulator, "ft", job.fine_tuned_model)
    deploy(emulator, "base", "gpt-4o-mini-2024-07-18")
    ft = client.chat.completions.create(model="ft", messages=[{"role": "user", "content": QUESTION}])
    base = client.chat.completions.create(model="base", messages=[{"role": "user", "content": QUESTION}])
    assert ft.choices[0].message.content.startswith("Artificial intelligence (AI) is the field")
    assert "generic" in base.choices[0].message.content
    assert ft.choices[0].message.content != base.choices[0].message.content
    enc = get_encoding("o200k_base")  # tiktoken itself as the reference
    assert ft.usage.prompt_tokens == 3 + 3 + len(enc.encode("user")) + len(enc.encode(QUESTION))
    assert ft.usage.completion_tokens == len(enc.encode(ft.choices[0].message.content))
    assert ft.usage.total_tokens == ft.usage.prompt_tokens + ft.usage.completion_tokens
    assert ft.system_fingerprint is None and ft.to_dict()["prompt_filter_results"][0]["prompt_index"] == 0

    # a model in use cannot be deleted; files can
    with pytest.raises(openai.ConflictError):
        client.models.delete(job.fine_tuned_model)
    assert client.files.delete(validation.id).deleted
    with pytest.raises(openai.NotFoundError):
        client.files.retrieve(validation.id)
    # the fine-tuned model keeps answering after its training file is deleted
    client.files.delete(training.id)
    again = client.chat.completions.create(model="ft", messages=[{"role": "user", "content": QUESTION}])
    assert again.choices[0].message.content == ft.choices[0].message.content


def test_nearest_example_is_chosen_by_the_question(emulator, openai_client, training_path, deploy, job_waiter):
    import json

    examples = [json.loads(line)["messages"] for line in training_path.read_text(encoding="utf-8").splitlines()]
    with training_path.open("rb") as fh:
        file_id = openai_client.files.wait_for_processing(
            openai_client.files.create(file=fh, purpose="fine-tune").id, poll_interval=0.05).id
    job = job_waiter(openai_client, openai_client.fine_tuning.jobs.create(
        model="gpt-4.1-mini-2025-04-14", training_file=file_id).id)
    deploy(emulator, "ft", job.fine_tuned_model)
    for messages in examples[5:8]:
        question = next(m["content"] for m in messages if m["role"] == "user")
        answer = next(m["content"] for m in messages if m["role"] == "assistant")
        reply = openai_client.chat.completions.create(
            model="ft", messages=[{"role": "system", "content": "Be brief."}, {"role": "user", "content": question}])
        assert reply.choices[0].message.content == answer


def test_plain_openai_client_on_v1(emulator, training_path, deploy, job_waiter):
    client = openai.OpenAI(base_url=emulator.url + "/openai/v1/", api_key=emulator.api_key)
    with training_path.open("rb") as fh:
        file_id = client.files.wait_for_processing(client.files.create(file=fh, purpose="fine-tune").id,
                                                   poll_interval=0.05).id
    raw = client.fine_tuning.jobs.with_raw_response.create(model="gpt-4o-mini-2024-07-18", training_file=file_id)
    assert raw.status_code == 200  # v1 answers 200 where the dated surface answers 201
    job = job_waiter(client, raw.parse().id)
    assert job.status == "succeeded"
    assert [j.id for j in client.fine_tuning.jobs.list()] == [job.id]
    deploy(emulator, "ft-v1", job.fine_tuned_model)
    reply = client.chat.completions.create(model="ft-v1", messages=[{"role": "user", "content": "What is AI?"}])
    assert reply.choices[0].message.content
    streamed = client.chat.completions.create(model="ft-v1", stream=True,
                                              messages=[{"role": "user", "content": "What is AI?"}])
    assert "".join(c.choices[0].delta.content or "" for c in streamed if c.choices) == reply.choices[0].message.content


def test_dated_create_is_201_with_location(emulator, openai_client, training_path):
    with training_path.open("rb") as fh:
        raw = openai_client.files.with_raw_response.create(file=fh, purpose="fine-tune")
    assert raw.status_code == 201 and raw.headers["location"].endswith(raw.parse().id)


def test_accounts_prefix_serves_the_same_account(emulator, training_path):
    client = openai.AzureOpenAI(azure_endpoint=emulator.account_endpoint("emulator").rstrip("/") + "/accounts/emulator",
                                api_key=emulator.api_key, api_version="2024-10-21")
    with training_path.open("rb") as fh:
        created = client.files.create(file=fh, purpose="fine-tune")
    default = openai.AzureOpenAI(azure_endpoint=emulator.url, api_key=emulator.api_key, api_version="2024-10-21")
    assert default.files.retrieve(created.id).id == created.id


def test_bearer_token_is_accepted(emulator, training_path):
    client = openai.AzureOpenAI(azure_endpoint=emulator.url, azure_ad_token="any-entra-token",
                                api_version="2024-10-21")
    assert client.models.retrieve("gpt-4o-mini-2024-07-18").id == "gpt-4o-mini-2024-07-18"

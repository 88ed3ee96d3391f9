"""The emulator's Evals API through the real `openai` SDK on the v1 surface: evals, runs on the clock, output
items, cancel, errors in Azure's envelope, eval data files, and models whose held-out quality differs."""
from __future__ import annotations

import io
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import openai
import pytest

from pipeline.emulator import EmulatorConfig, EmulatorServer
from pipeline.emulator.clock import ManualClock
from tests.pipeline.emulated import FAST
from tests.pipeline.emulator.conftest import put_deployment
from tests.pipeline.evals_world import BASE_MODEL, VALIDATION, World, serving_world, v1_client

SCHEMA = {"type": "object", "properties": {"question": {"type": "string"}, "reference": {"type": "string"}},
          "required": ["question", "reference"]}
FUZZY = {"type": "text_similarity", "name": "fuzzy", "input": "{{sample.output_text}}",
         "reference": "{{item.reference}}", "evaluation_metric": "fuzzy_match", "pass_threshold": 0.6}
TEMPLATE = {"type": "template", "template": [
    {"role": "system", "content": "The system is an AI teacher that helps people learn about AI"},
    {"role": "user", "content": "{{item.question}}"}]}


def held_out() -> list[dict[str, Any]]:
    rows = [json.loads(line)["messages"] for line in VALIDATION.read_text(encoding="utf-8").splitlines()]
    return [{"item": {"question": m[-2]["content"], "reference": m[-1]["content"]}} for m in rows]


def create_eval(client: openai.OpenAI, criteria: list[dict[str, Any]] | None = None) -> Any:
    return client.evals.create(
        name="held-out", metadata={"purpose": "test"},
        data_source_config={"type": "custom", "item_schema": SCHEMA, "include_sample_schema": True},
        testing_criteria=criteria or [FUZZY])  # type: ignore[list-item]


def completions(model: str, content: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    return {"type": "completions", "model": model, "input_messages": TEMPLATE,
            "source": {"type": "file_content", "content": content or held_out()}}


def finish(client: openai.OpenAI, eval_id: str, run_id: str, emu: EmulatorServer) -> Any:
    import time

    deadline = time.monotonic() + 20
    run = client.evals.runs.retrieve(run_id, eval_id=eval_id)
    while run.status in ("queued", "in_progress"):
        assert time.monotonic() < deadline, run.status
        time.sleep(0.05)
        run = client.evals.runs.retrieve(run_id, eval_id=eval_id)
    return run


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    with serving_world(tmp_path_factory.mktemp("evals")) as world:
        yield world


@pytest.fixture
def client(world: World) -> openai.OpenAI:
    return v1_client(world.emu)


def pass_rate(client: openai.OpenAI, world: World, evaluation: Any, deployment: str) -> float:
    run = client.evals.runs.create(evaluation.id, name=deployment, data_source=completions(deployment))  # type: ignore[arg-type]
    run = finish(client, evaluation.id, run.id, world.emu)
    assert run.status == "completed" and run.result_counts.total == 16
    return run.result_counts.passed / run.result_counts.total


def test_a_model_trained_on_the_sample_data_beats_the_base_and_shuffled_answers_do_not(client, world) -> None:
    evaluation = create_eval(client)
    good, shuffled, base = (pass_rate(client, world, evaluation, d) for d in (world.good, world.shuffled, world.base))
    assert good >= 0.5, good
    assert good - base >= 0.4, (good, base)
    assert shuffled - base <= 0.07, (shuffled, base)


def test_eval_round_trip_list_update_delete(client) -> None:
    evaluation = create_eval(client)
    assert evaluation.object == "eval" and evaluation.data_source_config.type == "custom"
    assert evaluation.data_source_config.schema_ == SCHEMA
    assert evaluation.testing_criteria[0].name == "fuzzy"
    assert client.evals.retrieve(evaluation.id).name == "held-out"
    assert evaluation.id in [e.id for e in client.evals.list()]
    assert client.evals.update(evaluation.id, name="renamed").name == "renamed"
    deleted = client.evals.delete(evaluation.id)
    assert (deleted.deleted, deleted.eval_id) == (True, evaluation.id)
    with pytest.raises(openai.NotFoundError) as info:
        client.evals.retrieve(evaluation.id)
    assert info.value.body["code"] == "NotFound"  # Azure's envelope, unwrapped by the SDK


def test_output_items_carry_the_answer_and_every_grader_result(client, world) -> None:
    criteria = [FUZZY,
                {"type": "string_check", "name": "answered", "input": "{{sample.output_text}}",
                 "reference": "", "operation": "ne"},
                {"type": "text_similarity", "name": "bleu", "input": "{{sample.output_text}}",
                 "reference": "{{item.reference}}", "evaluation_metric": "bleu", "pass_threshold": 0.1},
                {"type": "text_similarity", "name": "rouge", "input": "{{sample.output_text}}",
                 "reference": "{{item.reference}}", "evaluation_metric": "rouge_l", "pass_threshold": 0.3},
                {"type": "score_model", "name": "judge", "model": world.base, "range": [0, 1], "pass_threshold": 0.7,
                 "input": [{"role": "system", "content": "Rate how well the answer matches the reference."},
                           {"role": "user", "content": "Q: {{item.question}}\nReference: {{item.reference}}\n"
                                                       "Answer: {{sample.output_text}}"}]}]
    evaluation = create_eval(client, criteria)
    run = client.evals.runs.create(evaluation.id, data_source=completions(world.good))  # type: ignore[arg-type]
    run = finish(client, evaluation.id, run.id, world.emu)
    items = list(client.evals.runs.output_items.list(run.id, eval_id=evaluation.id))
    assert len(items) == 16 and [i.datasource_item_id for i in items] == list(range(16))
    first = items[0]
    assert first.sample.output[0].content and first.sample.usage.total_tokens > 0
    assert first.sample.input[-1].content == held_out()[0]["item"]["question"]
    assert [r.name for r in first.results] == ["fuzzy", "answered", "bleu", "rouge", "judge"]
    assert all(0.0 <= r.score <= 1.0 for r in first.results)
    per = {r.testing_criteria: (r.passed, r.failed) for r in run.per_testing_criteria_results}
    assert set(per) == {"fuzzy", "answered", "bleu", "rouge", "judge"} and all(sum(v) == 16 for v in per.values())
    passed = [i for i in items if all(r.passed for r in i.results)]
    assert run.result_counts.passed == len(passed) and 0 < len(passed) < 16
    assert {u.run_model_name for u in run.per_model_usage} == {world.good, world.base}  # the judge was asked too
    only_pass = list(client.evals.runs.output_items.list(run.id, eval_id=evaluation.id, status="pass"))
    assert {i.id for i in only_pass} == {i.id for i in passed}
    assert client.evals.runs.output_items.retrieve(first.id, eval_id=evaluation.id, run_id=run.id).id == first.id


def test_a_run_is_queued_then_in_progress_then_completed_on_the_clock(tmp_path: Path) -> None:
    clock = ManualClock()
    emu = EmulatorServer(EmulatorConfig(**{**FAST, "eval_run_seconds": 10.0}), clock=clock).start()
    try:
        put_deployment(emu, "base", BASE_MODEL)
        client = v1_client(emu)
        evaluation = create_eval(client)
        run = client.evals.runs.create(evaluation.id, data_source=completions("base"))  # type: ignore[arg-type]
        assert run.status == "queued" and run.result_counts.total == 0
        clock.advance(5.5)
        half = client.evals.runs.retrieve(run.id, eval_id=evaluation.id)
        assert half.status == "in_progress" and 0 < half.result_counts.total < 16
        assert len(list(client.evals.runs.output_items.list(run.id, eval_id=evaluation.id))) == half.result_counts.total
        clock.advance(5)
        done = client.evals.runs.retrieve(run.id, eval_id=evaluation.id)
        assert done.status == "completed" and done.result_counts.total == 16
        # a second run, cancelled while queued (both cancel paths of the docs are served)
        second = client.evals.runs.create(evaluation.id, data_source=completions("base"))  # type: ignore[arg-type]
        assert client.evals.runs.cancel(second.id, eval_id=evaluation.id).status == "canceled"
        with pytest.raises(openai.BadRequestError, match="already canceled"):
            client.post(f"/evals/{evaluation.id}/runs/{second.id}", cast_to=object)
        clock.advance(20)
        assert client.evals.runs.retrieve(second.id, eval_id=evaluation.id).status == "canceled"
        assert [r.id for r in client.evals.runs.list(evaluation.id)] == [run.id, second.id]
        assert client.evals.runs.delete(second.id, eval_id=evaluation.id).deleted is True
        assert [r.id for r in client.evals.runs.list(evaluation.id)] == [run.id]
    finally:
        emu.stop()


def test_a_run_on_a_missing_deployment_fails_with_azures_message(client, world) -> None:
    evaluation = create_eval(client)
    run = client.evals.runs.create(evaluation.id, data_source=completions("no-such-deployment"))  # type: ignore[arg-type]
    run = finish(client, evaluation.id, run.id, world.emu)
    assert run.status == "failed"
    assert run.error.code == "DeploymentNotFound" and "no-such-deployment" in run.error.message


def test_a_missing_grader_deployment_errors_the_items(client, world) -> None:
    judge = {"type": "score_model", "name": "judge", "model": "no-grader",
             "input": [{"role": "user", "content": "{{item.reference}} vs {{sample.output_text}}"}]}
    evaluation = create_eval(client, [judge])
    run = client.evals.runs.create(evaluation.id, data_source=completions(world.base, held_out()[:3]))  # type: ignore[arg-type]
    run = finish(client, evaluation.id, run.id, world.emu)
    assert run.status == "completed" and run.result_counts.errored == 3
    item = next(iter(client.evals.runs.output_items.list(run.id, eval_id=evaluation.id)))
    assert item.status == "error" and "no-grader" in item.results[0].error  # type: ignore[attr-defined]


def test_eval_data_uploaded_as_a_file_with_purpose_evals(client, world) -> None:
    lines = "".join(json.dumps(row) + "\n" for row in held_out()[:4]).encode()
    uploaded = client.files.create(file=("held-out.jsonl", io.BytesIO(lines)), purpose="evals")
    evaluation = create_eval(client)
    source = {"type": "completions", "model": world.good, "input_messages": TEMPLATE,
              "source": {"type": "file_id", "id": uploaded.id}}
    run = finish(client, evaluation.id, client.evals.runs.create(evaluation.id, data_source=source).id, world.emu)  # type: ignore[arg-type]
    assert run.result_counts.total == 4
    training = client.files.create(file=("t.jsonl", io.BytesIO(lines)), purpose="fine-tune")
    with pytest.raises(openai.BadRequestError, match="purpose 'evals'"):
        client.evals.runs.create(evaluation.id, data_source={**source, "source": {"type": "file_id", "id": training.id}})  # type: ignore[arg-type]


@pytest.mark.parametrize(("body", "message"), [
    ({"testing_criteria": [{**FUZZY, "evaluation_metric": "meteor"}]}, "not available in this emulator"),
    ({"testing_criteria": [{**FUZZY, "evaluation_metric": "levenshtein"}]}, "evaluation_metric must be one of"),
    ({"testing_criteria": [{**FUZZY, "reference": "{{item.answer}}"}]}, "not a property of the eval's item_schema"),
    ({"testing_criteria": [{**FUZZY, "pass_threshold": None}]}, "pass_threshold must be a number"),
    ({"testing_criteria": [FUZZY, FUZZY]}, "names must be unique"),
    ({"testing_criteria": []}, "non-empty list"),
    ({"data_source_config": {"type": "logs"}}, "data_source_config must be"),
])
def test_bad_evals_are_refused_in_azures_envelope(client, body: dict[str, Any], message: str) -> None:
    payload = {"name": "x", "data_source_config": {"type": "custom", "item_schema": SCHEMA},
               "testing_criteria": [FUZZY], **body}
    with pytest.raises(openai.BadRequestError) as info:
        client.post("/evals", body=payload, cast_to=object)
    assert info.value.status_code == 400
    assert info.value.body["code"] == "invalidPayload" and message in info.value.body["message"]


@pytest.mark.parametrize(("source", "message"), [
    ({"type": "completions", "model": "base", "input_messages": TEMPLATE,
      "source": {"type": "file_content", "content": [{"item": {"question": "q"}}]}}, "does not match the eval's item_schema"),
    ({"type": "completions", "input_messages": TEMPLATE,
      "source": {"type": "file_content", "content": [{"item": {"question": "q", "reference": "r"}}]}}, "must name the deployment"),
    ({"type": "completions", "model": "base", "input_messages": {"type": "template", "template": [
        {"role": "user", "content": "{{sample.output_text}}"}]},
      "source": {"type": "file_content", "content": [{"item": {"question": "q", "reference": "r"}}]}}, "only known to graders"),
    ({"type": "responses", "model": "base"}, "not supported here"),
])
def test_bad_runs_are_refused_with_the_reason(client, source: dict[str, Any], message: str) -> None:
    evaluation = create_eval(client)
    with pytest.raises(openai.BadRequestError, match=message):
        client.evals.runs.create(evaluation.id, data_source=source)  # type: ignore[arg-type]


def test_runs_of_an_unknown_eval_are_404(client) -> None:
    with pytest.raises(openai.NotFoundError):
        client.evals.runs.list("eval_missing").data

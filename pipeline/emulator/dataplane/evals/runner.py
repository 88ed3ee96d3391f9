"""A run's work: read its data source, ask the deployment each item's messages, grade every sample.

Done once at run creation (the store's clock then reveals it). The completions go through the emulator's own
chat, so a fine-tuned deployment answers as it does on `/chat/completions` and tokens are counted the same way.
A deployment that does not exist or is not serving fails the whole run with Azure's code and message; a grader
deployment that is missing errors the items it should have graded.
"""
from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

import orjson

from pipeline.emulator.errors import AzureError
from pipeline.emulator.dataplane.evals import graders, templates
from pipeline.emulator.dataplane.evals.schema import check_item
from pipeline.emulator.dataplane.plane import DataPlane

MAX_ITEMS: Final = 10_000
DEPLOYMENT_MISSING: Final = ("The API deployment '{name}' for this resource does not exist. If you created the "
                             "deployment within the last 5 minutes, please wait a moment and try again.")


def _bad(message: str, param: str) -> AzureError:
    return AzureError(400, "invalidPayload", message, param=param)


@dataclass
class RunPlan:
    """What a run will do, checked before anything is asked."""

    kind: str  # completions | jsonl
    model: str | None
    rows: list[dict[str, Any]]  # {"item": {...}, "sample"?: {...}}
    input_messages: dict[str, Any] | None
    sampling: dict[str, Any]


def plan_run(data_source: Any, eval_body: dict[str, Any], plane: DataPlane, account: str) -> RunPlan:
    """Validate `data_source` against the eval; 400 naming the problem."""
    if not isinstance(data_source, dict):
        raise _bad("'data_source' is required.", "data_source")
    kind = data_source.get("type")
    if kind not in ("completions", "jsonl"):
        raise _bad(f"data_source.type {kind!r} is not supported here; use 'completions' (ask a deployment) or "
                   "'jsonl' (grade samples you already have).", "data_source.type")
    rows = _rows(data_source.get("source"), plane, account)
    schema = (eval_body.get("data_source_config") or {}).get("schema") or {}
    for index, row in enumerate(rows):
        check_item(schema, row["item"], index)
    model = data_source.get("model")
    input_messages = data_source.get("input_messages")
    if kind == "completions":
        if not isinstance(model, str) or not model:
            raise _bad("data_source.model must name the deployment to ask.", "data_source.model")
        _check_input_messages(input_messages, schema)
    sampling = data_source.get("sampling_params") or {}
    if not isinstance(sampling, dict):
        raise _bad("data_source.sampling_params must be an object.", "data_source.sampling_params")
    return RunPlan(kind, model if kind == "completions" else None, rows, input_messages, sampling)


def _rows(source: Any, plane: DataPlane, account: str) -> list[dict[str, Any]]:
    if not isinstance(source, dict):
        raise _bad("data_source.source is required ({'type': 'file_content', 'content': [...]} or "
                   "{'type': 'file_id', 'id': ...}).", "data_source.source")
    if source.get("type") == "file_content":
        content = source.get("content")
    elif source.get("type") == "file_id":
        record = plane.files.get(account, str(source.get("id")))
        if record is None:
            raise AzureError(404, "notFound", f"File with id '{source.get('id')}' not found.",
                             param="data_source.source.id")
        if record.purpose != "evals":
            raise _bad(f"File '{record.id}' was uploaded with purpose '{record.purpose}'; eval data needs purpose "
                       "'evals'.", "data_source.source.id")
        content = _read_jsonl(Path(record.path), record.id)
    else:
        raise _bad("data_source.source.type must be 'file_content' or 'file_id'.", "data_source.source.type")
    if not isinstance(content, list) or not content:
        raise _bad("The data source has no items.", "data_source.source")
    if len(content) > MAX_ITEMS:
        raise _bad(f"The data source has {len(content)} items; at most {MAX_ITEMS} are allowed.", "data_source.source")
    rows = []
    for index, row in enumerate(content):
        if not isinstance(row, dict) or not isinstance(row.get("item"), dict):
            raise _bad(f"data source item {index} must be an object with an 'item' object.", "data_source.source")
        rows.append(row)
    return rows


def _read_jsonl(path: Path, file_id: str) -> list[Any]:
    rows = []
    for number, raw in enumerate(path.read_bytes().splitlines(), start=1):
        if not raw.strip():
            continue
        try:
            value = orjson.loads(raw)
        except orjson.JSONDecodeError:
            raise _bad(f"File '{file_id}' line {number} is not valid JSON.", "data_source.source.id") from None
        rows.append(value if isinstance(value, dict) and "item" in value else {"item": value})
    return rows


def _check_input_messages(input_messages: Any, schema: dict[str, Any]) -> None:
    properties = set((schema.get("properties") or {}).keys()) or None
    if not isinstance(input_messages, dict):
        raise _bad("data_source.input_messages is required for a completions run.", "data_source.input_messages")
    if input_messages.get("type") == "item_reference":
        reference = str(input_messages.get("item_reference") or "")
        if not reference.startswith("item.") or (properties and reference[5:].split(".")[0] not in properties):
            raise _bad("data_source.input_messages.item_reference must name an item property holding the messages, "
                       "e.g. 'item.messages'.", "data_source.input_messages.item_reference")
        return
    template = input_messages.get("template")
    if input_messages.get("type") != "template" or not isinstance(template, list) or not template:
        raise _bad("data_source.input_messages must be {'type': 'template', 'template': [messages]} or an "
                   "item_reference.", "data_source.input_messages")
    for index, message in enumerate(template):
        if not isinstance(message, dict) or message.get("role") not in ("system", "developer", "user", "assistant"):
            raise _bad(f"data_source.input_messages.template[{index}] must be a message with a role.",
                       "data_source.input_messages.template")
        templates.check(templates.content_text(message.get("content")),
                        f"data_source.input_messages.template[{index}]", properties, sample_allowed=False)


# ----- executing ---------------------------------------------------------------------------------------------------
def execute(plan: RunPlan, criteria: list[dict[str, Any]], plane: DataPlane, account: str,
            now: float) -> tuple[list[dict[str, Any]], dict[str, str] | None]:
    """(output items, run error): every item sampled and graded, or the error that stops the run."""
    if plan.kind == "completions":
        problem = _serving_problem(plane, account, str(plan.model), now)
        if problem is not None:
            return [], {"code": "DeploymentNotFound", "message": problem}
    items = []
    for index, row in enumerate(plan.rows):
        item = row["item"]
        if plan.kind == "completions":
            messages = _messages(plan.input_messages or {}, item)
            sample = _complete(plane, account, str(plan.model), messages, plan.sampling, now)
        else:
            messages, sample = [], _given_sample(row.get("sample"))
        scope = {"item": item, "sample": {**sample, "output_text": _output_text(sample)}}
        model_input = " ".join(m["content"] for m in messages)
        usage: dict[str, dict[str, int]] = {}
        if plan.model and sample.get("usage"):
            usage[plan.model] = {**sample["usage"], "invocation_count": 1}

        def judge(deployment: str, grader_messages: list[dict[str, str]]) -> str | None:
            problem = _serving_problem(plane, account, deployment, now)
            if problem is not None:
                return f"grader deployment: {problem}"
            answer = _complete(plane, account, deployment, grader_messages, {}, now)
            entry = usage.setdefault(deployment, {"invocation_count": 0, "prompt_tokens": 0, "completion_tokens": 0,
                                                  "total_tokens": 0})
            entry["invocation_count"] += 1
            for key in ("prompt_tokens", "completion_tokens", "total_tokens"):
                entry[key] += answer["usage"][key]
            return None

        grades = [graders.grade(c, scope, model_input, judge) for c in criteria] if not sample.get("error") else []
        status = "error" if sample.get("error") or any(g.error for g in grades) else (
            "pass" if all(g.passed for g in grades) else "fail")
        items.append({
            "object": "eval.run.output_item",
            "id": "outputitem_" + hashlib.sha256(f"{now}:{index}:{id(plan)}".encode()).hexdigest()[:24],
            "created_at": int(now), "status": status, "datasource_item_id": index, "datasource_item": item,
            "results": [g.to_api() for g in grades], "sample": sample, "_usage": usage,
        })
    return items, None


def _serving_problem(plane: DataPlane, account: str, name: str, now: float) -> str | None:
    deployment = plane.deployments.get(account, name)
    if deployment is None or deployment.provisioning_state(now) != "Succeeded":
        return DEPLOYMENT_MISSING.format(name=name)
    if deployment.paused:
        return f"The deployment '{name}' is paused. Resume it to send requests."
    return None


def _messages(input_messages: dict[str, Any], item: dict[str, Any]) -> list[dict[str, str]]:
    if input_messages.get("type") == "item_reference":
        value = templates.lookup({"item": item}, "item", str(input_messages["item_reference"])[5:])
        return [{"role": str(m.get("role")), "content": templates.content_text(m.get("content"))}
                for m in (value if isinstance(value, list) else []) if isinstance(m, dict)]
    return [{"role": m["role"], "content": templates.render(templates.content_text(m.get("content")), {"item": item})}
            for m in input_messages["template"]]


def _complete(plane: DataPlane, account: str, deployment_name: str, messages: list[dict[str, str]],
              sampling: dict[str, Any], now: float) -> dict[str, Any]:
    """One chat completion through the emulator's own chat, as an output item's `sample`."""
    model = plane.deployments.get(account, deployment_name).model_name
    body = {"messages": messages, "max_completion_tokens": sampling.get("max_completion_tokens")}
    completion = plane.chat.completion(model, body, plane.models.training_data_of(model), now)
    choice = completion["choices"][0]
    usage = {**completion["usage"], "cached_tokens": 0}
    return {"input": messages, "output": [{"role": "assistant", "content": choice["message"]["content"]}],
            "finish_reason": choice["finish_reason"], "model": model, "usage": usage, "error": None,
            "seed": sampling.get("seed", 0), "temperature": sampling.get("temperature", 1.0),
            "top_p": sampling.get("top_p", 1.0), "max_completion_tokens": sampling.get("max_completion_tokens") or 0}


def _given_sample(sample: Any) -> dict[str, Any]:
    if not isinstance(sample, dict):
        return {"input": [], "output": [], "error": {"code": "invalidPayload",
                                                      "message": "a jsonl data source item needs a 'sample'"}}
    text = sample.get("output_text")
    output = sample.get("output") or ([{"role": "assistant", "content": text}] if isinstance(text, str) else [])
    return {"input": sample.get("input") or [], "output": output, "error": None, "usage": None}


def _output_text(sample: dict[str, Any]) -> str:
    return " ".join(templates.content_text(m.get("content")) for m in sample.get("output") or [] if isinstance(m, dict))

"""Property-based fuzz of the emulator's data plane from the official spec (schemathesis + hypothesis).

For every operation of the GA 2024-10-21 authoring spec: generated requests (valid and not) never get a 5xx, and
every answer is valid against the spec (the documented status's schema, or `default`, Azure's ErrorResponse).
Path ids are sometimes replaced by ones that exist, so handlers past the 404 are reached. Bounded for CI: a fixed
number of examples per operation, derandomized (the same cases every run), no example database.
"""
from __future__ import annotations

import copy
import functools
import hashlib
import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
from hypothesis import HealthCheck, given, settings, strategies as st
from openapi_schema_validator import OAS30Validator

from pipeline.emulator import EmulatorConfig, EmulatorServer
from tests.paths import DATAPLANE_SPEC

SPEC_PATH = DATAPLANE_SPEC
SPEC_SHA256 = "5a7369607eb26a2b993e42b57984f250191dcaf6449a3413067efbe9f06d7d49"
RAW = json.loads(SPEC_PATH.read_text(encoding="utf-8"))
HTTP_METHODS = ("get", "put", "post", "delete", "patch", "head", "options", "trace")
LABELS = sorted(f"{method.upper()} {path}" for path, item in RAW["paths"].items() for method in item
                if method in HTTP_METHODS)
"""The spec's operations as schemathesis labels them, read without it: importing schemathesis and parsing the
spec cost ~0.5 CPU-s, which only the process that runs this module (one, see tests/conftest.py) pays."""


@functools.cache
def operations() -> dict[str, Any]:
    """schemathesis' operations of the spec, by label."""
    import schemathesis

    schema = schemathesis.openapi.from_dict(RAW)
    return {op.label: op for op in (result.ok() for result in schema.get_all_operations())}
EXAMPLES_PER_OPERATION = 40
BUDGET_SECONDS = 60.0
VERSIONS = ["2024-10-21", "2025-04-01-preview"]
_started: list[float] = []


def test_vendored_spec_is_the_official_file() -> None:
    assert hashlib.sha256(SPEC_PATH.read_bytes()).hexdigest() == SPEC_SHA256


def test_every_operation_schemathesis_finds_is_fuzzed() -> None:
    assert sorted(operations()) == LABELS and len(LABELS) == 23


def _relaxed(node: Any) -> Any:
    """Extensible enums (`x-ms-enum.modelAsString`) accept any string, as Azure's own clients do."""
    if isinstance(node, list):
        return [_relaxed(item) for item in node]
    if not isinstance(node, dict):
        return node
    out = {key: (value if key == "enum" else _relaxed(value)) for key, value in node.items()}
    if "enum" in out and node.get("x-ms-enum", {}).get("modelAsString", False):
        out.pop("enum")
    return out


DEFINITIONS = _relaxed(RAW["definitions"])


def _drop_nulls(value: Any) -> Any:
    """Swagger 2.0 cannot say "nullable": OpenAI-compatible nulls are compared as absent (as in test_spec_shapes)."""
    if isinstance(value, dict):
        return {k: _drop_nulls(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [_drop_nulls(v) for v in value]
    return value


def response_errors(path: str, method: str, status: int, content_type: str, body: bytes) -> list[str]:
    """Ways the response breaks the spec: an undocumented status, or a JSON body that does not fit its schema."""
    responses = RAW["paths"][path][method.lower()]["responses"]
    documented = responses.get(str(status)) or responses.get("default")
    if documented is None:
        return [f"status {status} is not documented"]
    schema = documented.get("schema")
    if schema is None or schema.get("type") in ("file", "string"):
        return []
    if "json" not in content_type:
        return [f"{status} answered {content_type!r}, the spec documents a JSON body"]
    validator = OAS30Validator({**_relaxed(copy.deepcopy(schema)), "definitions": DEFINITIONS})
    return [f"{'/'.join(map(str, e.absolute_path)) or 'body'}: {e.message[:200]}"
            for e in validator.iter_errors(_drop_nulls(json.loads(body)))]


@pytest.fixture(scope="module")
def emu(datasets_dir_module: Path) -> Iterator[EmulatorServer]:
    config = EmulatorConfig(port=0, log_requests=False, training_seconds=2, file_processing_seconds=0.1)
    with EmulatorServer(config) as server:
        yield server


@pytest.fixture(scope="module")
def datasets_dir_module() -> Path:
    return Path(__file__).resolve().parents[3] / "datasets"


@pytest.fixture(scope="module")
def existing(emu: EmulatorServer, datasets_dir_module: Path) -> dict[str, list[str]]:
    """Ids that exist (an uploaded training file, a job, a base model), so fuzzing reaches past the 404s."""
    session = requests.Session()
    session.headers["api-key"] = emu.api_key
    base = f"{emu.url}/openai"
    with open(datasets_dir_module / "training_set.jsonl", "rb") as fh:
        file = session.post(f"{base}/files?api-version=2024-10-21", files={"file": ("t.jsonl", fh)},
                            data={"purpose": "fine-tune"}).json()
    time.sleep(0.3)
    emu.state.dataplane.files.wait_for_check(file["id"])
    job = session.post(f"{base}/fine_tuning/jobs?api-version=2024-10-21",
                       json={"model": "gpt-4o-mini-2024-07-18", "training_file": file["id"]}).json()
    return {"file-id": [file["id"]], "fine-tuning-job-id": [job["id"]], "model-id": ["gpt-4o-mini-2024-07-18"]}


@pytest.mark.parametrize("label", LABELS)
def test_no_5xx_and_every_answer_fits_the_spec(emu: EmulatorServer, existing: dict[str, list[str]],
                                               label: str) -> None:
    operation = operations()[label]
    _started.append(time.monotonic()) if not _started else None
    if time.monotonic() - _started[0] > BUDGET_SECONDS:
        pytest.skip(f"the fuzz budget of {BUDGET_SECONDS:g} s is spent")  # a slow machine: stay bounded
    session = requests.Session()

    @settings(max_examples=EXAMPLES_PER_OPERATION, deadline=None, derandomize=True, database=None,
              suppress_health_check=list(HealthCheck))
    @given(data=st.data())
    def check(data: st.DataObject) -> None:
        case = data.draw(operation.as_strategy())
        for name, ids in existing.items():
            if name in (case.path_parameters or {}):
                case.path_parameters[name] = data.draw(st.sampled_from([*ids, case.path_parameters[name]]))
        query = dict(case.query or {})
        query["api-version"] = data.draw(st.sampled_from([*VERSIONS, str(query.get("api-version", ""))]))
        case.query = query
        response = case.call(base_url=f"{emu.url}/openai", session=session, headers={"api-key": emu.api_key},
                             timeout=15)
        where = f"{case.method} {case.formatted_path} -> {response.status_code}: {response.content[:300]!r}"
        assert response.status_code < 500, where
        content_type = response.headers.get("content-type") or ""
        if isinstance(content_type, list):  # schemathesis keeps every value of a header
            content_type = ",".join(content_type)
        problems = response_errors(operation.path, operation.method, response.status_code, content_type,
                                   response.content)
        assert not problems, f"{where}\n" + "\n".join(problems)

    check()


JSON = st.recursive(st.none() | st.booleans() | st.integers(-2**70, 2**70) | st.floats(allow_nan=False, allow_infinity=False)
                    | st.text(max_size=20),
                    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
                    max_leaves=12)
MESSAGE = st.fixed_dictionaries({}, optional={"role": st.sampled_from(["user", "system", "assistant", "x"]) | JSON,
                                              "content": st.text(max_size=50) | JSON, "name": JSON})
CHAT_BODY = st.fixed_dictionaries({}, optional={
    "messages": st.lists(MESSAGE | JSON, max_size=4) | JSON,
    "max_tokens": st.integers(-5, 10**7) | JSON, "max_completion_tokens": st.integers(-5, 10**7) | JSON,
    "n": st.integers(-5, 10**6) | JSON, "temperature": st.floats(-5, 5) | JSON, "top_p": st.floats(-2, 2) | JSON,
    "stream": st.booleans() | JSON, "model": st.sampled_from(["base"]) | JSON,
})


@pytest.mark.parametrize("surface", ["dated", "v1"])
def test_chat_fuzz_never_5xx_and_refusals_use_the_envelope(emu: EmulatorServer, surface: str) -> None:
    """Chat is not in the authoring spec: arbitrary JSON bodies get a bounded answer or a 4xx envelope."""
    from tests.pipeline.emulator.conftest import put_deployment

    put_deployment(emu, "base", "gpt-4o-mini-2024-07-18")
    session = requests.Session()
    url = (f"{emu.url}/openai/deployments/base/chat/completions?api-version=2024-10-21" if surface == "dated"
           else f"{emu.url}/openai/v1/chat/completions")

    @settings(max_examples=150, deadline=None, derandomize=True, database=None,
              suppress_health_check=list(HealthCheck))
    @given(body=CHAT_BODY)
    def check(body: dict[str, Any]) -> None:
        response = session.post(url, json=body, headers={"api-key": emu.api_key}, timeout=15)
        assert response.status_code < 500, (body, response.text[:300])
        assert len(response.content) < 1_000_000, f"{len(response.content):,} bytes answered"  # n, max_tokens bounded
        if response.status_code >= 400:
            error = response.json()["error"]
            assert isinstance(error["code"], str) and error["message"], response.text
        elif not body.get("stream"):
            assert response.json()["object"] == "chat.completion"

    check()

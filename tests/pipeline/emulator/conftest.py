"""Shared helpers for the data-plane tests: dataset paths, a deployment inserter, spec validation."""
from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any, Callable

import pytest

from pipeline.emulator.deployments import Deployment
from tests.paths import DATAPLANE_SPEC

ROOT = Path(__file__).resolve().parents[3]
SPEC = DATAPLANE_SPEC


@pytest.fixture
def training_path() -> Path:
    return ROOT / "datasets" / "training_set.jsonl"


@pytest.fixture
def validation_path() -> Path:
    return ROOT / "datasets" / "validation_set.jsonl"


@pytest.fixture
def bad_training_path(tmp_path: Path, training_path: Path) -> Path:
    """The sample training set with line 3 broken JSON and line 5 missing its assistant message."""
    lines = training_path.read_text(encoding="utf-8").splitlines()
    lines[2] = '{"messages": [ this is not json'
    lines[4] = json.dumps({"messages": [{"role": "user", "content": "Hello?"}]})
    path = tmp_path / "bad.jsonl"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def put_deployment(emu: Any, name: str, model: str, *, ready_in: float = 0.0, paused: bool = False,
                   account: str | None = None) -> Deployment:
    """Insert a deployment directly (the ARM plane is another helper's work)."""
    now = emu.state.clock.now()
    properties: dict[str, Any] = {"model": {"format": "OpenAI", "name": model, "version": "1"}}
    if paused:
        properties["deploymentState"] = "Paused"
    return emu.state.deployments.put(Deployment(
        account=account or emu.config.default_account, name=name, sku={"name": "Standard", "capacity": 1},
        properties=properties, tags={}, created_at=now, ready_at=now + ready_in))


@pytest.fixture
def deploy() -> Callable[..., Deployment]:
    return put_deployment


def wait_for_job(client: Any, job_id: str, timeout: float = 20.0) -> Any:
    deadline = time.monotonic() + timeout
    job = client.fine_tuning.jobs.retrieve(job_id)
    while job.status not in {"succeeded", "failed", "cancelled"}:
        assert time.monotonic() < deadline, f"job {job_id} still {job.status}"
        time.sleep(0.1)
        job = client.fine_tuning.jobs.retrieve(job_id)
    return job


@pytest.fixture
def job_waiter() -> Callable[..., Any]:
    return wait_for_job


def _drop_nulls(value: Any) -> Any:
    """Swagger 2.0 cannot say "nullable"; Azure's generated clients treat null and absent alike, so the
    OpenAI-compatible nulls we send (fine_tuned_model before success, ...) are compared as absent."""
    if isinstance(value, dict):
        return {k: _drop_nulls(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [_drop_nulls(v) for v in value]
    return value


@pytest.fixture(scope="session")
def spec_validate() -> Callable[[str, Any], None]:
    """`spec_validate("File", body)`: validate against a definition of the GA data-plane spec."""
    from openapi_schema_validator import OAS30Validator

    spec = json.loads(SPEC.read_text(encoding="utf-8"))
    definitions = spec["definitions"]

    def validate(name: str, body: Any) -> None:
        schema = {**definitions[name], "definitions": definitions}
        OAS30Validator(schema).validate(_drop_nulls(body))

    return validate

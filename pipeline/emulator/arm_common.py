"""Shared pieces of the ARM plane: the per-request context, ARM-shaped errors, timestamps, etags and the
long-running-operation records the Azure SDK pollers follow."""
from __future__ import annotations

import hashlib
import json
import math
import re
import uuid
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

from fastapi import Request
from fastapi.responses import JSONResponse, Response

from pipeline.emulator import armspec
from pipeline.emulator.config import EmulatorConfig
from pipeline.emulator.errors import AzureError
from pipeline.emulator.state import EmulatorState

RESOURCE_NAME = re.compile(r"^[a-zA-Z0-9][a-zA-Z0-9_.-]*$")
GUID = re.compile(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")
CS_PROVIDER = "Microsoft.CognitiveServices"


@dataclass
class ArmContext:
    """One ARM request: the emulator state plus what the handlers need from the HTTP request."""

    state: EmulatorState
    request: Request
    body: bytes

    @property
    def config(self) -> EmulatorConfig:
        return self.state.config

    @property
    def now(self) -> float:
        return self.state.clock.now()

    @property
    def base_url(self) -> str:
        """`http://host:port/` as the client addressed us (so links work through any host name)."""
        return str(self.request.base_url)

    @property
    def api_version(self) -> str:
        return self.request.query_params.get("api-version", "")

    def link(self, path: str) -> str:
        return f"{self.base_url.rstrip('/')}{path}?api-version={self.api_version}"

    def json_body(self, *, required: bool = True) -> dict[str, Any]:
        """The request body as a JSON object, with nulls dropped (ARM treats `null` as absent)."""
        if not self.body.strip():
            if required:
                raise AzureError(400, "InvalidRequestContent", "The request content was invalid: a JSON body is required.")
            return {}
        try:
            value = json.loads(self.body)
        except ValueError as exc:
            raise AzureError(
                400, "InvalidRequestContent",
                f"The request content was invalid and could not be deserialized: {exc}.",
            ) from None
        if not isinstance(value, dict):
            raise AzureError(400, "InvalidRequestContent", "The request content must be a JSON object.")
        return drop_nulls(value)


def drop_nulls(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: drop_nulls(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [drop_nulls(v) for v in value]
    return value


def validate_body(definition: str, body: dict[str, Any]) -> None:
    """400 in ARM's shape when `body` breaks the spec's definition; `target` names the offending field."""
    errors = armspec.request_errors(definition, body)
    if errors:
        where, message = errors[0]
        raise AzureError(
            400, "InvalidRequestContent",
            f"The request content was invalid: {where or 'body'}: {message} (checked against the "
            f"Microsoft.CognitiveServices '{definition}' definition).",
            target=where or None,
        )


def check_resource_name(name: str, what: str = "account", *, min_length: int = 2) -> None:
    """ARM's rule for these names: 2-64 of letters, digits, '_', '.', '-', starting with a letter or digit and
    not ending with '.' (so `..`, quotes, spaces and emoji never reach storage or a path)."""
    if not (min_length <= len(name) <= 64) or not RESOURCE_NAME.match(name) or name.endswith("."):
        raise AzureError(
            400, "InvalidResourceName",
            f"The {what} name '{_shown(name)}' is invalid: use {min_length}-64 characters, starting with a letter or digit, "
            "then letters, digits, '_', '.' or '-', not ending with '.'.",
            target="name",
        )


def _shown(name: str, limit: int = 80) -> str:
    return name if len(name) <= limit else name[:limit] + f"... ({len(name):,} characters)"


def iso(ts: float) -> str:
    """ARM timestamps: UTC, 7 fractional digits like the service, trailing Z."""
    dt = datetime.fromtimestamp(ts, tz=timezone.utc)
    return dt.strftime("%Y-%m-%dT%H:%M:%S.") + f"{dt.microsecond:06d}0Z"


def etag_of(resource: dict[str, Any]) -> str:
    digest = hashlib.sha256(json.dumps(resource, sort_keys=True).encode()).hexdigest()
    return f'"{uuid.UUID(digest[:32])}"'


def with_etag(resource: dict[str, Any]) -> dict[str, Any]:
    resource["etag"] = etag_of(resource)
    return resource


def json_response(body: Any, status: int = 200, headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse(body, status_code=status, headers=headers)


def no_content() -> Response:
    return Response(status_code=204)


def not_found(resource_type: str, name: str, resource_group: str | None = None) -> AzureError:
    where = f" under resource group '{resource_group}'" if resource_group else ""
    return AzureError(404, "ResourceNotFound", f"The Resource '{resource_type}/{name}'{where} was not found.")


def normalize_location(location: str) -> str:
    return location.replace(" ", "").lower()


# ---- long-running operations ------------------------------------------------------------------------
OPERATIONS_SCHEMA = """
CREATE TABLE IF NOT EXISTS arm_operations (
    id TEXT PRIMARY KEY,
    subscription_id TEXT NOT NULL,
    location TEXT NOT NULL,
    resource_id TEXT NOT NULL,
    started_at REAL NOT NULL,
    done_at REAL NOT NULL
);
"""


def poll_after(seconds_left: float) -> dict[str, str]:
    """When an SDK poller should check back on work that ends in `seconds_left`: `Retry-After: 1` (whole seconds,
    as ARM sends it) while a second or more is left, else `retry-after-ms` with what is left, so a deployment that
    provisions in 0.2 s is seen done after 0.2 s. azure-core reads either; without one it waits its polling
    interval (30 s by default)."""
    if seconds_left >= 1:
        return {"Retry-After": "1"}
    return {"retry-after-ms": str(max(1, math.ceil(round(seconds_left * 1000, 3))))}


class Operations:
    """Async-operation records: InProgress until the clock passes `done_at`, then Succeeded."""

    def __init__(self, state: EmulatorState) -> None:
        self.state = state
        state.db.ensure_schema(OPERATIONS_SCHEMA)

    def start(self, subscription_id: str, location: str, resource_id: str, done_at: float) -> str:
        op_id = str(uuid.uuid4())
        self.state.db.execute(
            "INSERT INTO arm_operations VALUES (?,?,?,?,?,?)",
            (op_id, subscription_id, location, resource_id, self.state.clock.now(), done_at),
        )
        return op_id

    @staticmethod
    def status_path(subscription_id: str, location: str, op_id: str) -> str:
        return f"/subscriptions/{subscription_id}/providers/{CS_PROVIDER}/locations/{location}/operationStatuses/{op_id}"

    def status(self, ctx: ArmContext, subscription_id: str, location: str, op_id: str) -> JSONResponse:
        row = self.state.db.query_one(
            "SELECT * FROM arm_operations WHERE id=? AND subscription_id=?", (op_id, subscription_id)
        )
        if row is None:
            raise AzureError(404, "OperationNotFound", f"The operation '{op_id}' could not be found.")
        done = ctx.now >= row["done_at"]
        body: dict[str, Any] = {
            "id": self.status_path(subscription_id, location, op_id),
            "name": op_id,
            "resourceId": row["resource_id"],
            "status": "Succeeded" if done else "InProgress",
            "startTime": iso(row["started_at"]),
        }
        if done:
            body["endTime"] = iso(row["done_at"])
        return json_response(body, headers=None if done else poll_after(row["done_at"] - ctx.now))

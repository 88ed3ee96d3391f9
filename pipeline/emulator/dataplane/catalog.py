"""`/models`: the base models this emulator can fine-tune plus the account's fine-tuned models (GA `Model`
shape, with the OpenAI SDK's `created`/`owned_by` too). Deleting is for fine-tuned models only and refused
while a deployment (on any account) still uses the model."""
from __future__ import annotations

import re
from datetime import datetime, timezone
from typing import Any

from pipeline.emulator.db import from_json
from pipeline.emulator.errors import AzureError
from pipeline.emulator.models import FINE_TUNABLE_BASE_MODELS
from pipeline.emulator.state import EmulatorState

YEAR = 365 * 24 * 3600
_DATE = re.compile(r"(\d{4})-(\d{2})-(\d{2})$")
_MMDD = re.compile(r"-(\d{2})(\d{2})$")


def release_time(model: str) -> int:
    """A base model's release date from its version suffix (`-2024-07-18`, or `-0613` = 2023-06-13)."""
    if m := _DATE.search(model):
        y, mo, d = (int(g) for g in m.groups())
    elif m := _MMDD.search(model):
        y, mo, d = 2023 if int(m.group(1)) > 5 else 2024, int(m.group(1)), int(m.group(2))
    else:
        y, mo, d = 2024, 1, 1
    return int(datetime(y, mo, d, tzinfo=timezone.utc).timestamp())


def base_model_body(model: str) -> dict[str, Any]:
    created = release_time(model)
    return {
        "object": "model", "id": model, "created_at": created, "created": created, "owned_by": "system",
        "status": "succeeded", "model": None, "fine_tune": None,
        "capabilities": {"fine_tune": True, "inference": True, "completion": False, "chat_completion": True,
                         "embeddings": False},
        "lifecycle_status": "generally-available",
        "deprecation": {"fine_tune": created + 2 * YEAR, "inference": created + 3 * YEAR},
    }


def fine_tuned_body(row: Any) -> dict[str, Any]:
    created = int(row["created_at"])
    return {
        "object": "model", "id": row["id"], "created_at": created, "created": created,
        "owned_by": "organization-owner", "status": "succeeded", "model": row["base_model"],
        "fine_tune": row["job_id"],
        "capabilities": {"fine_tune": True, "inference": True, "completion": False, "chat_completion": True,
                         "embeddings": False},
        "lifecycle_status": "generally-available",
        "deprecation": {"inference": created + YEAR},
    }


def model_not_found(model: str) -> AzureError:
    return AzureError(404, "notFound", f"The model '{model}' does not exist.")


class Catalog:
    def __init__(self, state: EmulatorState) -> None:
        self.state = state

    def fine_tuned_row(self, model: str, account: str | None = None, *, include_checkpoints: bool = True) -> Any:
        """The live `fine_tuned_models` row of `model` (any account unless given: ids are globally unique)."""
        self.state.models.fine_tuned_exists(account or "", model)  # runs the settle hook
        sql = "SELECT * FROM fine_tuned_models WHERE id=? AND deleted_at IS NULL"
        params: tuple = (model,)
        if account is not None:
            sql += " AND lower(account)=lower(?)"
            params += (account,)
        if not include_checkpoints:
            sql += " AND kind='model'"
        return self.state.db.query_one(sql, params)

    def list(self, account: str) -> list[dict[str, Any]]:
        self.state.models.fine_tuned_exists(account, "")  # settle finished jobs first
        rows = self.state.db.query(
            "SELECT * FROM fine_tuned_models WHERE lower(account)=lower(?) AND deleted_at IS NULL AND kind='model' "
            "ORDER BY created_at", (account,))
        return [base_model_body(m) for m in FINE_TUNABLE_BASE_MODELS] + [fine_tuned_body(r) for r in rows]

    def get(self, account: str, model: str) -> dict[str, Any]:
        if model in FINE_TUNABLE_BASE_MODELS:
            return base_model_body(model)
        row = self.fine_tuned_row(model, account, include_checkpoints=False)
        if row is None:
            raise model_not_found(model)
        return fine_tuned_body(row)

    def delete(self, account: str, model: str) -> dict[str, Any]:
        if model in FINE_TUNABLE_BASE_MODELS:
            raise AzureError(400, "invalidPayload", f"'{model}' is a base model; only fine-tuned models can be deleted.")
        row = self.fine_tuned_row(model, account, include_checkpoints=False)
        if row is None:
            raise model_not_found(model)
        users = self.deployments_using(model)
        if users:
            raise AzureError(
                409, "conflict",
                f"The model '{model}' is used by deployment(s) {', '.join(users)}; delete them first.",
                headers={"x-should-retry": "false"},
            )
        self.state.db.execute("UPDATE fine_tuned_models SET deleted_at=? WHERE lower(account)=lower(?) AND id=?",
                              (self.state.clock.now(), account, model))
        return {"id": model, "object": "model", "deleted": True}

    def deployments_using(self, model: str) -> list[str]:
        rows = self.state.db.query("SELECT account, name, properties FROM deployments")
        return [f"{r['account']}/{r['name']}" for r in rows
                if (from_json(r["properties"]).get("model") or {}).get("name") == model]

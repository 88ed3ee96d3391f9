"""`/models`: the base models this emulator can fine-tune plus the account's fine-tuned models (GA `Model`
shape, with the OpenAI SDK's `created`/`owned_by` too). Deleting is for fine-tuned models only and refused
while a deployment (on any account) still uses the model."""
from __future__ import annotations

import re
from datetime import datetime, timezone
from typing import Any

from pipeline.emulator.clock import Clock
from pipeline.emulator.deployments import Deployments
from pipeline.emulator.errors import AzureError
from pipeline.emulator.models import FINE_TUNABLE_BASE_MODELS, FineTunedModel, ModelCatalog

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


def fine_tuned_body(model: FineTunedModel) -> dict[str, Any]:
    created = int(model.created_at)
    return {
        "object": "model", "id": model.id, "created_at": created, "created": created,
        "owned_by": "organization-owner", "status": "succeeded", "model": model.base_model,
        "fine_tune": model.job_id,
        "capabilities": {"fine_tune": True, "inference": True, "completion": False, "chat_completion": True,
                         "embeddings": False},
        "lifecycle_status": "generally-available",
        "deprecation": {"inference": created + YEAR},
    }


def model_not_found(model: str) -> AzureError:
    return AzureError(404, "notFound", f"The model '{model}' does not exist.")


class Catalog:
    """The `/models` bodies of an account over the shared `ModelCatalog`."""

    def __init__(self, models: ModelCatalog, deployments: Deployments, clock: Clock) -> None:
        self.models, self.deployments, self.clock = models, deployments, clock

    def list(self, account: str) -> list[dict[str, Any]]:
        return ([base_model_body(m) for m in FINE_TUNABLE_BASE_MODELS]
                + [fine_tuned_body(m) for m in self.models.list_fine_tuned(account)])

    def get(self, account: str, model: str) -> dict[str, Any]:
        if model in FINE_TUNABLE_BASE_MODELS:
            return base_model_body(model)
        return fine_tuned_body(self._require_fine_tuned(account, model))

    def delete(self, account: str, model: str) -> dict[str, Any]:
        if model in FINE_TUNABLE_BASE_MODELS:
            raise AzureError(400, "invalidPayload", f"'{model}' is a base model; only fine-tuned models can be deleted.")
        self._require_fine_tuned(account, model)
        users = self.deployments.using_model(model)
        if users:
            raise AzureError(
                409, "conflict",
                f"The model '{model}' is used by deployment(s) {', '.join(users)}; delete them first.",
                headers={"x-should-retry": "false"},
            )
        self.models.fine_tuned.delete(account, model, self.clock.now())
        return {"id": model, "object": "model", "deleted": True}

    def _require_fine_tuned(self, account: str, model: str) -> FineTunedModel:
        found = self.models.get_fine_tuned(model, account, include_checkpoints=False)
        if found is None:
            raise model_not_found(model)
        return found

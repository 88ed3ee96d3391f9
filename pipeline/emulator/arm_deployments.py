"""`Microsoft.CognitiveServices/accounts/deployments`: what the data plane's chat route serves.

A write provisions for `config.deployment_seconds` (provisioningState `Creating`, then `Succeeded`) and answers
with an `Azure-AsyncOperation` status URL plus `Retry-After: 1` (`retry-after-ms` once less than a second is
left), so the SDK poller checks back when the work is done instead of after its 30 s default. While any
deployment of an account is `Creating`, another write on that account gets Azure's 409 `RequestConflict`. The model must exist on the account, or on the account named by
`properties.model.source` / `sourceAccount` (fine-tuned models deployed across accounts).
"""
from __future__ import annotations

from typing import Any

from fastapi.responses import Response

from pipeline.emulator.accounts import Account
from pipeline.emulator.arm_accounts import AccountHandlers
from pipeline.emulator.arm_common import (
    CS_PROVIDER, ArmContext, Operations, check_resource_name, iso, json_response, no_content, poll_after,
    validate_body, with_etag,
)
from pipeline.emulator.deployments import Deployment
from pipeline.emulator.errors import AzureError
from pipeline.emulator.models import MAX_CONTEXT_TOKENS, MAX_OUTPUT_TOKENS
from pipeline.emulator.state import EmulatorState

DEPLOYMENT_TYPE = f"{CS_PROVIDER}/accounts/deployments"
# Deployment SKUs accepted for OpenAI models, by canonical spelling (the lab sends lowercase "standard").
SKU_NAMES: dict[str, str] = {n.lower(): n for n in (
    "Standard", "GlobalStandard", "DeveloperTier", "DataZoneStandard", "ProvisionedManaged",
    "GlobalProvisionedManaged", "GlobalBatch",
)}
INT32_MAX = 2**31 - 1  # sku.capacity is an Int32 in the spec; ARM cannot deserialize more
QUOTA_LIMIT = 10_000  # capacity units (thousands of TPM) one deployment may take; Azure's quotas are lower
READ_ONLY_PROPERTIES = frozenset({
    "provisioningState", "capabilities", "callRateLimit", "rateLimits", "dynamicThrottlingEnabled",
})


def deployment_id(account: Account, name: str) -> str:
    return f"{account.arm_id}/deployments/{name}"


def deployment_to_arm(account: Account, deployment: Deployment, now: float) -> dict[str, Any]:
    capacity = int(deployment.sku.get("capacity", 1))
    properties: dict[str, Any] = {
        **deployment.properties,
        "provisioningState": deployment.provisioning_state(now),
        "capabilities": {"chatCompletion": "true", "maxContextToken": str(MAX_CONTEXT_TOKENS),
                         "maxOutputToken": str(MAX_OUTPUT_TOKENS)},
        "rateLimits": [
            {"key": "request", "renewalPeriod": 10, "count": capacity},
            {"key": "token", "renewalPeriod": 60, "count": capacity * 1000},
        ],
        "currentCapacity": capacity,
    }
    resource: dict[str, Any] = {
        "id": deployment_id(account, deployment.name),
        "name": deployment.name,
        "type": DEPLOYMENT_TYPE,
        "sku": deployment.sku,
        "properties": properties,
        "systemData": {"createdAt": iso(deployment.created_at), "lastModifiedAt": iso(deployment.ready_at)},
    }
    if deployment.tags:
        resource["tags"] = deployment.tags
    return with_etag(resource)


class DeploymentHandlers:
    def __init__(self, state: EmulatorState, accounts: AccountHandlers, operations: Operations) -> None:
        self.state, self.accounts, self.operations = state, accounts, operations
        self.deployments = state.deployments

    def _parent(self, sub: str, rg: str, account: str, deployment: str | None = None) -> Account:
        """The account, after checking the deployment name (a bad name is 400 before anything is looked up)."""
        if deployment is not None:
            check_resource_name(deployment, "deployment", min_length=1)
        try:
            return self.accounts.require_in_group(sub, rg, account)
        except AzureError:
            raise AzureError(
                404, "ParentResourceNotFound",
                f"Can not perform requested operation on nested resource. Parent resource '{account}' not found.",
            ) from None

    def _require_idle(self, ctx: ArmContext, account: Account) -> None:
        """Azure serializes deployment writes per account: 409 while another one is still provisioning."""
        busy = [d.name for d in self.deployments.list(account.name) if d.provisioning_state(ctx.now) != "Succeeded"]
        if busy:
            raise AzureError(
                409, "RequestConflict",
                "Another operation is being performed on the parent resource "
                f"'{account.arm_id}'. Please try again later. (deployment '{busy[0]}' is still Creating; "
                "serialize deployment writes on one account and retry on 409)",
            )

    def _model_owner(self, account: Account, model: dict[str, Any]) -> Account:
        source = model.get("sourceAccount") or model.get("source")
        if not source:
            return account
        marker = "/providers/microsoft.cognitiveservices/accounts/"
        lowered = str(source).lower()
        if marker not in lowered:
            raise AzureError(
                400, "InvalidResourceProperties",
                f"properties.model.source '{source}' is not the ARM id of a Microsoft.CognitiveServices account "
                "(/subscriptions/{sub}/resourceGroups/{rg}/providers/Microsoft.CognitiveServices/accounts/{name}).",
                target="properties.model.source",
            )
        name = str(source)[lowered.index(marker) + len(marker):].split("/")[0]
        owner = self.state.accounts.get(name)
        if owner is None or owner.arm_id.lower() != str(source).rstrip("/").lower():
            raise AzureError(
                400, "InvalidResourceProperties",
                f"The source account '{source}' of the model was not found.", target="properties.model.source",
            )
        return owner

    def _check_model(self, account: Account, model: dict[str, Any]) -> None:
        name, fmt, version = model.get("name"), model.get("format"), model.get("version")
        if not name or not fmt:
            raise AzureError(
                400, "InvalidResourceProperties",
                "properties.model needs 'format' (\"OpenAI\") and 'name' (a base model or a fine-tuned model id).",
                target="properties.model",
            )
        owner = self._model_owner(account, model)
        catalog = self.state.models
        found = str(fmt).lower() == "openai" and (
            catalog.exists(owner.name, name) or (version and catalog.exists(owner.name, f"{name}-{version}"))
        )
        if not found:
            where = f"account '{owner.name}'"
            raise AzureError(
                400, "DeploymentModelNotSupported",
                f"The model '{fmt}/{name}' version '{version or ''}' is not supported or does not exist on {where}. "
                "Deploy a base model this account can serve, or a fine-tuned model id from a succeeded job "
                "(set properties.model.source to the training account's ARM id when it lives elsewhere).",
                target="properties.model.name",
            )

    @staticmethod
    def _sku(body: dict[str, Any]) -> dict[str, Any]:
        sku = body.get("sku")
        if not sku:
            raise AzureError(
                400, "InvalidResourceProperties",
                "The deployment needs a sku, e.g. {\"name\": \"Standard\", \"capacity\": 1}.", target="sku",
            )
        canonical = SKU_NAMES.get(str(sku["name"]).lower())
        if canonical is None:
            raise AzureError(
                400, "InvalidResourceProperties",
                f"The sku '{sku['name']}' is not supported for this model; use one of {sorted(SKU_NAMES.values())}.",
                target="sku.name",
            )
        capacity = sku.get("capacity", 1)
        if isinstance(capacity, bool) or not isinstance(capacity, int) or capacity > INT32_MAX:
            raise AzureError(
                400, "InvalidRequestContent",
                f"The request content was invalid and could not be deserialized: sku.capacity {capacity!r} is not "
                "a 32-bit integer.", target="sku.capacity",
            )
        if capacity < 1:
            raise AzureError(400, "InvalidResourceProperties", "sku.capacity must be at least 1.", target="sku.capacity")
        if capacity > QUOTA_LIMIT:
            raise AzureError(
                400, "InsufficientQuota",
                f"This operation require {capacity} new capacity in quota Tokens Per Minute (thousands), which is "
                f"bigger than the current available capacity {QUOTA_LIMIT}.", target="sku.capacity",
            )
        return {**sku, "name": canonical, "capacity": capacity}

    def put(self, ctx: ArmContext, sub: str, rg: str, account: str, deployment: str) -> Response:
        parent = self._parent(sub, rg, account, deployment)
        body = ctx.json_body()
        validate_body("Deployment", body)
        sku = self._sku(body)
        properties = {k: v for k, v in (body.get("properties") or {}).items() if k not in READ_ONLY_PROPERTIES}
        model = properties.get("model")
        if not model:
            raise AzureError(400, "InvalidResourceProperties", "properties.model is required.", target="properties.model")
        self._check_model(parent, model)
        self._require_idle(ctx, parent)
        existing = self.deployments.get(parent.name, deployment)
        now = ctx.now
        saved = self.deployments.put(Deployment(
            account=parent.name, name=deployment, sku=sku, properties=properties, tags=body.get("tags") or {},
            created_at=existing.created_at if existing else now, ready_at=now + ctx.config.deployment_seconds,
        ))
        op_id = self.operations.start(sub, parent.location, deployment_id(parent, deployment), saved.ready_at)
        headers = {
            "Azure-AsyncOperation": ctx.link(Operations.status_path(sub, parent.location, op_id)),
            **poll_after(saved.ready_at - now),
        }
        return json_response(deployment_to_arm(parent, saved, now), status=200 if existing else 201, headers=headers)

    def patch(self, ctx: ArmContext, sub: str, rg: str, account: str, deployment: str) -> Response:
        """PATCH carries only sku and tags (e.g. `aoai-ft sweep` bookkeeping)."""
        parent = self._parent(sub, rg, account, deployment)
        found = self._require(parent, rg, deployment)
        body = ctx.json_body()
        validate_body("Deployment", body)
        self._require_idle(ctx, parent)
        if "sku" in body:
            found.sku = self._sku({"sku": {**found.sku, **body["sku"]}})
        if "tags" in body:
            found.tags = body["tags"]
        self.deployments.put(found)
        return json_response(deployment_to_arm(parent, found, ctx.now))

    def _require(self, parent: Account, rg: str, name: str) -> Deployment:
        found = self.deployments.get(parent.name, name)
        if found is None:
            raise AzureError(
                404, "ResourceNotFound",
                f"The Resource '{DEPLOYMENT_TYPE}/{parent.name}/{name}' under resource group '{rg}' was not found.",
            )
        return found

    def get(self, ctx: ArmContext, sub: str, rg: str, account: str, deployment: str) -> Response:
        parent = self._parent(sub, rg, account, deployment)
        return json_response(deployment_to_arm(parent, self._require(parent, rg, deployment), ctx.now))

    def list(self, ctx: ArmContext, sub: str, rg: str, account: str) -> Response:
        parent = self._parent(sub, rg, account)
        now = ctx.now
        return json_response({"value": [deployment_to_arm(parent, d, now) for d in self.deployments.list(parent.name)]})

    def delete(self, ctx: ArmContext, sub: str, rg: str, account: str, deployment: str) -> Response:
        parent = self._parent(sub, rg, account, deployment)
        if self.deployments.get(parent.name, deployment) is None:
            return no_content()
        self._require_idle(ctx, parent)
        self.deployments.delete(parent.name, deployment)
        return Response(status_code=200)

    def operation_status(self, ctx: ArmContext, sub: str, location: str, operation: str) -> Response:
        return self.operations.status(ctx, sub, location, operation)

"""Deploy a fine-tuned model through Azure Resource Manager (the lab's Task 8, without a pasted token).

Uses azure-mgmt-cognitiveservices (client from `pipeline.arm.management_client`): create-or-update through the
SDK's long-running-operation poller until `Succeeded`. ARM allows one deployment write per account at a time and
answers a concurrent one with 409 `RequestConflict`, which the SDK does not retry, so we retry it with
tenacity's exponential back-off.
Transport failures (unreachable endpoint, dropped connections) are retried by azure-core's RetryPolicy (see
`pipeline.arm`); when they outlast it, the error says whether ARM had already accepted the deployment.
"""
from __future__ import annotations

import re
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVar

from azure.core.exceptions import (
    AzureError, ClientAuthenticationError, HttpResponseError, IncompleteReadError, ResourceNotFoundError,
)
import tenacity
from pydantic import BaseModel, ConfigDict, Field, field_validator

from pipeline.arm import describe_arm_error
from pipeline.errors import PipelineError, ServiceError, UsageError
from pipeline.retrying import stop_before_timeout

if TYPE_CHECKING:
    from azure.mgmt.cognitiveservices import CognitiveServicesManagementClient

T = TypeVar("T")
SKUS = ("Standard", "GlobalStandard", "DeveloperTier")
CONFLICT_CODES = frozenset({"RequestConflict", "Conflict", "AnotherOperationInProgress"})
DEPLOYMENT_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")


def is_fine_tuned(model: str) -> bool:
    """A fine-tuned model or one of its checkpoints (`<base>.ft-<id>[-suffix][:ckpt-step-N]` on Azure, `ft:...` on
    OpenAI) rather than a base model: only those deployments carry an hourly hosting fee."""
    return ".ft-" in model or ":ckpt-step-" in model or model.startswith("ft:")


def check_deployment_name(name: str) -> str:
    """ARM's rule for deployment names, checked before any request: a name like `..` would otherwise become a
    path segment that HTTP clients normalise away, addressing the account itself."""
    if not DEPLOYMENT_NAME.match(name) or name.endswith("."):
        raise UsageError(f"invalid deployment name {name[:80]!r}",
                         hint="use 1-64 letters, digits, '_', '.' or '-', starting with a letter or digit and not "
                              "ending with '.'")
    return name


_DATED_BASE_MODEL = re.compile(r"^(?P<name>.+?)-(?P<version>\d{4}-\d{2}-\d{2}|\d{4})$")


def model_reference(model: str) -> tuple[str, str]:
    """(name, version) as a deployment names the model: a fine-tuned model as itself, version "1"; a base model
    by family and date, `gpt-4o-mini-2024-07-18` -> (`gpt-4o-mini`, `2024-07-18`)."""
    if not is_fine_tuned(model) and (match := _DATED_BASE_MODEL.match(model)):
        return match["name"], match["version"]
    return model, "1"


class DeploymentStillProvisioning(ServiceError):
    """ARM accepted the deployment, then waiting for it failed; it goes on in Azure."""

    exit_code = 3


class DeploymentSpec(BaseModel):
    """One model deployment on an account (ARM `Microsoft.CognitiveServices/accounts/deployments`)."""

    model_config = ConfigDict(frozen=True)

    subscription_id: str
    resource_group: str
    account_name: str
    deployment_name: str
    model: str
    model_version: str = "1"
    sku_name: str = "Standard"
    capacity: int = Field(1, ge=1)
    source: str | None = None  # ARM id of the account that owns the model, for cross-resource deployment
    tags: dict[str, str] = {}

    @field_validator("deployment_name")
    @classmethod
    def _arm_name(cls, value: str) -> str:
        try:
            return check_deployment_name(value)
        except UsageError as exc:
            raise ValueError(f"{exc.message} ({exc.hint})") from None


def _error_code(exc: HttpResponseError) -> str | None:
    return getattr(getattr(exc, "error", None), "code", None)


def _first_line(text: str) -> str:
    return next((line.strip() for line in str(text).splitlines() if line.strip()), "")


def _reason(exc: AzureError) -> str:
    """A transport failure in a few words (azure-core's text is a repr of the urllib3 error)."""
    text = _first_line(exc.message or str(exc))
    if isinstance(exc, IncompleteReadError) or "IncompleteRead" in text or "Connection broken" in text:
        return "the connection dropped in the middle of a response"
    if "Connection refused" in text:
        return "connection refused"
    return text


def _transport_error(exc: AzureError, what: str, arm_url: str | None) -> ServiceError:
    """No HTTP status: the request never got an answer (refused, dropped, timed out) after azure-core's retries."""
    where = f" at {arm_url}" if arm_url else ""
    return ServiceError(f"could not {what}: no answer from Azure Resource Manager{where} ({_reason(exc)})",
                        hint="check --arm-endpoint / AZURE_RESOURCE_MANAGER_ENDPOINT and your network, then retry")


def _is_conflict(exc: BaseException) -> bool:
    """409 from another write on the account (ARM allows one at a time); other 409s (a name taken) are final."""
    return (isinstance(exc, HttpResponseError) and exc.status_code == 409
            and _error_code(exc) in CONFLICT_CODES | {None})


def _retry_conflicts(action: Callable[[], T], *, what: str, deadline: float,
                     first_delay: float = 2.0, max_delay: float = 30.0,
                     sleep: Callable[[float], None] = time.sleep, arm_url: str | None = None) -> T:
    """Run `action`, retrying 409 RequestConflict with exponential back-off until `deadline`; every other
    failure becomes one `ServiceError` that says what to do."""
    retrying = tenacity.Retrying(retry=tenacity.retry_if_exception(_is_conflict),
                                 wait=tenacity.wait_exponential(multiplier=first_delay, max=max_delay),
                                 stop=stop_before_timeout(deadline - time.monotonic()), sleep=sleep,
                                 reraise=True)
    try:
        return retrying(action)
    except ClientAuthenticationError as exc:
        raise _service_error(exc, what) from exc
    except HttpResponseError as exc:
        if exc.status_code is None:
            raise _transport_error(exc, what, arm_url) from exc
        if _is_conflict(exc):
            raise ServiceError(f"could not {what}: another operation kept the account busy ({describe_arm_error(exc)})",
                               hint="wait for the other deployment change to finish, then retry") from exc
        raise _service_error(exc, what) from exc
    except AzureError as exc:  # ServiceRequestError / ServiceResponseError: connection refused, dropped
        raise _transport_error(exc, what, arm_url) from exc


def _service_error(exc: HttpResponseError, what: str) -> ServiceError:
    hint = None
    if isinstance(exc, ClientAuthenticationError) or exc.status_code in (401, 403):
        hint = ("sign in with `az login`; deploying needs 'Cognitive Services OpenAI Contributor' or "
                "'Cognitive Services Contributor' on the account")
    elif exc.status_code == 404:
        hint = "check --subscription, --resource-group and --account"
    elif exc.status_code == 400:
        hint = "check --model (the fine_tuned_model of a succeeded job), --sku and --capacity"
    text = describe_arm_error(exc) if exc.status_code is not None else _first_line(exc.message or str(exc))
    return ServiceError(f"could not {what}: {text}", hint=hint)


def deployment_body(spec: DeploymentSpec) -> Any:
    from azure.mgmt.cognitiveservices.models import Deployment, DeploymentModel, DeploymentProperties, Sku

    return Deployment(
        sku=Sku(name=spec.sku_name, capacity=spec.capacity),
        tags=dict(spec.tags) or None,
        properties=DeploymentProperties(
            model=DeploymentModel(format="OpenAI", name=spec.model, version=spec.model_version, source=spec.source),
        ),
    )


def _az_show(resource_group: str, account_name: str, deployment_name: str) -> str:
    return (f"az cognitiveservices account deployment show -g {resource_group} -n {account_name} "
            f"--deployment-name {deployment_name}")


def _still_provisioning(spec: DeploymentSpec, exc: AzureError) -> DeploymentStillProvisioning:
    show = _az_show(spec.resource_group, spec.account_name, spec.deployment_name)
    return DeploymentStillProvisioning(
        f"deployment {spec.deployment_name} was accepted by Azure Resource Manager, but waiting for it failed "
        f"({_reason(exc)}); it goes on in Azure",
        hint=f"run the same `aoai-ft deploy` again to wait for it, or look at it with `{show}`",
    )


def deploy_interrupted(spec: DeploymentSpec, *, accepted: bool) -> tuple[str, str]:
    """(message, hint) for Ctrl-C while `deploy_model(spec)` ran: what goes on in Azure, how to wait for it again,
    look at it or remove it. `accepted`: ARM had accepted the PUT (else it may or may not have)."""
    name = spec.deployment_name
    state = ("was accepted by Azure Resource Manager and goes on being created in Azure" if accepted
             else "was being requested; if Azure Resource Manager accepted it, it goes on being created in Azure")
    fee = ("; a fine-tuned deployment is billed by the hour once it is created"
           if is_fine_tuned(spec.model) and spec.sku_name != "DeveloperTier" else "")
    return (f"deployment {name} {state}{fee}",
            f"run the same `aoai-ft deploy` again to wait for it, look at it with "
            f"`{_az_show(spec.resource_group, spec.account_name, name)}`, or remove it with "
            f"`aoai-ft deploy --deployment {name} --delete`")


def delete_interrupted(resource_group: str, account_name: str, deployment_name: str) -> tuple[str, str]:
    """(message, hint) for Ctrl-C while `delete_deployment` ran."""
    return (f"deleting deployment {deployment_name} goes on in Azure if Azure Resource Manager accepted it",
            f"run `aoai-ft deploy --deployment {deployment_name} --delete` again to wait for it, or look at it with "
            f"`{_az_show(resource_group, account_name, deployment_name)}`")


def deploy_model(arm_client: "CognitiveServicesManagementClient", spec: DeploymentSpec, *,
                 timeout: float = 3600, retry_delay: float = 2.0, arm_url: str | None = None,
                 on_accepted: Callable[[], None] | None = None) -> dict[str, Any]:
    """Create or update the deployment and wait for `Succeeded`; returns the deployment as ARM shows it.
    `arm_url` only names the endpoint in error messages; `on_accepted` is called once ARM has accepted the PUT
    (from then on the deployment goes on in Azure, whatever happens here)."""
    deadline = time.monotonic() + timeout
    what = f"deploy {spec.model} as {spec.deployment_name} on {spec.account_name}"

    def create() -> Any:
        poller = arm_client.deployments.begin_create_or_update(
            spec.resource_group, spec.account_name, spec.deployment_name, deployment_body(spec))
        if on_accepted is not None:
            on_accepted()
        try:
            result = poller.result(timeout=max(deadline - time.monotonic(), 0.0))
        except ClientAuthenticationError:
            raise
        except AzureError as exc:
            if isinstance(exc, HttpResponseError) and exc.status_code is not None:
                raise  # an answer: the operation failed, or ARM refused a poll
            raise _still_provisioning(spec, exc) from exc
        if not poller.done():
            raise PipelineError(f"deployment {spec.deployment_name} is still being created after {timeout:g} s",
                                hint="it continues in Azure; run the same `aoai-ft deploy` again to wait for it")
        return result

    deployment = _retry_conflicts(create, what=what, deadline=deadline, first_delay=retry_delay, arm_url=arm_url)
    state = getattr(getattr(deployment, "properties", None), "provisioning_state", None)
    if state not in (None, "Succeeded"):
        raise ServiceError(f"deployment {spec.deployment_name} ended in state {state}",
                           hint="see the deployment in the Azure portal for the reason")
    return deployment.as_dict()


def delete_deployment(arm_client: "CognitiveServicesManagementClient", resource_group: str, account_name: str,
                      deployment_name: str, *, timeout: float = 1800, retry_delay: float = 2.0,
                      arm_url: str | None = None) -> bool:
    """Delete a deployment and wait; False if it did not exist (ARM itself answers 204 either way)."""
    check_deployment_name(deployment_name)
    deadline = time.monotonic() + timeout

    def delete() -> bool:
        try:
            arm_client.deployments.get(resource_group, account_name, deployment_name)
            arm_client.deployments.begin_delete(resource_group, account_name, deployment_name).result(
                timeout=max(deadline - time.monotonic(), 0.0))
        except ResourceNotFoundError:
            return False
        return True

    return _retry_conflicts(delete, what=f"delete deployment {deployment_name} on {account_name}", deadline=deadline,
                            first_delay=retry_delay, arm_url=arm_url)

"""Azure Resource Manager access for Cognitive Services accounts: a client factory and soft-delete helpers.

One factory for real Azure and for the local emulator. Against an `http://` base URL azure-core refuses to send
bearer tokens unless every request says `enforce_https=False`, so a tiny per-call policy says it (this also covers
LRO polls and next pages); the emulator gets a static token from the environment instead of Entra ID.

Soft delete: a deleted account is kept for 48 h under its name and blocks re-creating it; `purge_deleted_account`
frees the name (the stack calls it on destroy).
"""
from __future__ import annotations

import os
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Final

from azure.core.credentials import AccessToken
from azure.core.exceptions import (
    AzureError, ClientAuthenticationError, HttpResponseError, IncompleteReadError, ResourceNotFoundError,
    ServiceResponseError,
)
from azure.core.pipeline import PipelineRequest, PipelineResponse
from azure.core.pipeline.policies import RetryPolicy, SansIOHTTPPolicy

from pipeline import envnames
from pipeline.errors import ServiceError, UsageError

if TYPE_CHECKING:
    from azure.core.credentials import TokenCredential
    from azure.mgmt.cognitiveservices import CognitiveServicesManagementClient
    from azure.mgmt.cognitiveservices.models import Account

DEFAULT_ARM_ENDPOINT: Final = "https://management.azure.com"
ARM_TOKEN_ENV: Final = envnames.AZURE_RESOURCE_MANAGER_TOKEN
"""Static bearer token for a non-Azure ARM endpoint (the emulator); the name lives in pipeline.envnames."""
PURGE_WAIT_SECONDS: Final = 120.0
"""How long to wait for a just-deleted account to show up under deletedAccounts before purging it."""


class StaticTokenCredential:
    """A `TokenCredential` that always returns the same bearer token (for the emulator; never for Azure)."""

    def __init__(self, token: str, *, lifetime_seconds: int = 3600) -> None:
        if not token:
            raise UsageError("empty ARM token", hint=f"set {ARM_TOKEN_ENV} to any non-empty string for the emulator")
        self._token = token
        self._lifetime = lifetime_seconds

    def get_token(self, *scopes: str, **kwargs: Any) -> AccessToken:
        return AccessToken(self._token, int(time.time()) + self._lifetime)


class ReadBodyPolicy(SansIOHTTPPolicy):
    """Reads every streamed response body inside azure-core's retry loop. The generated LRO code streams the
    body of the initial PUT after the pipeline, where nothing retries, so a connection dropped mid-body was a
    failure; read here (and cached, so the SDK's own read replays it), it is a `ServiceResponseError` that
    `RetryPolicy` retries like any other (PUT and GET are idempotent)."""

    def on_response(self, request: PipelineRequest, response: PipelineResponse) -> None:
        import requests

        body = response.http_response
        internal = getattr(body, "internal_response", None)
        if not isinstance(internal, requests.Response) or getattr(body, "is_stream_consumed", True):
            return
        try:
            internal.content  # noqa: B018 - reads and caches; iter_content() then replays the cached bytes
        except requests.RequestException as exc:
            raise ServiceResponseError(f"the connection broke while reading the response: {exc}", error=exc) from exc


class ArmRetryPolicy(RetryPolicy):
    """azure-core's RetryPolicy, set up like the data plane's SDK retries (5 retries: the first at once, then
    1, 2, 4 and 8 s apart; Retry-After honoured), and counting a body cut off mid-read (`IncompleteReadError`, e.g. an
    operation-status poll whose connection dropped) as the read error it is, so it backs off instead of being
    retried at once as a bad status."""

    def __init__(self, *, retries: int = 5, **kwargs: Any) -> None:
        """`retries` bounds every kind of retry; an unreachable endpoint gets at most 3 (at once, then 1 s and 2 s
        later)."""
        settings: dict[str, Any] = dict(retry_total=retries, retry_connect=min(3, retries), retry_read=retries,
                                        retry_status=retries, retry_backoff_factor=0.5, retry_backoff_max=8)
        super().__init__(**{**settings, **kwargs})

    def _is_read_error(self, err: AzureError) -> bool:
        return isinstance(err, IncompleteReadError) or super()._is_read_error(err)


class AllowHttpPolicy(SansIOHTTPPolicy):
    """Lets the bearer-token policy send a token over plain http (emulator on loopback only)."""

    def on_request(self, request: PipelineRequest) -> None:
        request.context.options["enforce_https"] = False


def arm_endpoint(explicit: str | None = None) -> str:
    """ARM base URL: explicit value, else `AZURE_RESOURCE_MANAGER_ENDPOINT`, else public Azure."""
    endpoint = (explicit or os.environ.get(envnames.AZURE_RESOURCE_MANAGER_ENDPOINT) or DEFAULT_ARM_ENDPOINT).strip()
    if not endpoint.startswith(("https://", "http://")):
        raise UsageError(
            f"ARM endpoint {endpoint!r} is not an http(s) URL",
            hint=f"set {envnames.AZURE_RESOURCE_MANAGER_ENDPOINT} to e.g. http://127.0.0.1:8000 or unset it for Azure",
        )
    return endpoint.rstrip("/")


def make_credential(endpoint: str | None = None) -> TokenCredential:
    """`AZURE_RESOURCE_MANAGER_TOKEN` if set (emulator), else the azure-native provider's identity (ARM_* variables,
    falling back to DefaultAzureCredential; see `pipeline.credentials`)."""
    token = os.environ.get(ARM_TOKEN_ENV)
    if token:
        return StaticTokenCredential(token)
    if endpoint and endpoint.startswith("http://"):
        raise UsageError(
            f"refusing to send Azure credentials to the plain-http endpoint {endpoint}",
            hint=f"set {ARM_TOKEN_ENV} (any string) when talking to the emulator",
        )
    from pipeline.credentials import azure_credential

    return azure_credential()


def management_client(
    subscription_id: str,
    *,
    endpoint: str | None = None,
    credential: TokenCredential | None = None,
    polling_interval: float | None = None,
    max_retries: int = 5,
    **kwargs: Any,
) -> CognitiveServicesManagementClient:
    """A `CognitiveServicesManagementClient` for Azure or for an http:// emulator base URL, retrying each request
    up to `max_retries` times (see ArmRetryPolicy)."""
    from azure.mgmt.cognitiveservices import CognitiveServicesManagementClient

    if not subscription_id:
        raise UsageError("no subscription id", hint=f"set {envnames.AZURE_SUBSCRIPTION_ID} or run `pulumi up` first")
    base_url = arm_endpoint(endpoint)
    credential = credential or make_credential(base_url)
    if base_url.startswith("http://"):
        kwargs["per_call_policies"] = [*kwargs.get("per_call_policies", []), AllowHttpPolicy()]
    kwargs["per_retry_policies"] = [*kwargs.get("per_retry_policies", []), ReadBodyPolicy()]
    kwargs.setdefault("retry_policy", ArmRetryPolicy(retries=max_retries))
    if polling_interval is not None:
        kwargs["polling_interval"] = polling_interval
    return CognitiveServicesManagementClient(credential, subscription_id, base_url=base_url, **kwargs)


def find_deleted_account(
    client: CognitiveServicesManagementClient, *, location: str, resource_group: str, account_name: str
) -> Account | None:
    """The soft-deleted account with this name, or None when there is none."""
    try:
        return _call(lambda: client.deleted_accounts.get(location, resource_group, account_name), "read deleted account")
    except _NotFound:
        return None


def purge_deleted_account(
    client: CognitiveServicesManagementClient,
    *,
    location: str,
    resource_group: str,
    account_name: str,
    wait_seconds: float = PURGE_WAIT_SECONDS,
    poll_seconds: float = 5.0,
    sleep: Callable[[float], None] = time.sleep,
) -> bool:
    """Purge a soft-deleted account, waiting up to `wait_seconds` for the delete to surface there first.

    Returns True when something was purged, False when no soft-deleted account of that name appeared.
    """
    deadline = time.monotonic() + wait_seconds
    while find_deleted_account(client, location=location, resource_group=resource_group, account_name=account_name) is None:
        if time.monotonic() >= deadline:
            return False
        sleep(poll_seconds)
    try:
        _call(
            lambda: client.deleted_accounts.begin_purge(location, resource_group, account_name).result(),
            "purge deleted account",
        )
    except _NotFound:
        return False  # purged concurrently (or by Azure's own 48 h clock)
    return True


class _NotFound(Exception):
    pass


def _call(fn: Callable[[], Any], what: str) -> Any:
    """Run one SDK call; 404 becomes `_NotFound`, other failures a `ServiceError` with a hint."""
    try:
        return fn()
    except ResourceNotFoundError as exc:
        raise _NotFound() from exc
    except HttpResponseError as exc:  # includes ClientAuthenticationError (HTTP 401, or no credential at all)
        if exc.status_code is None and isinstance(exc, ClientAuthenticationError):
            raise ServiceError(
                f"no Azure credential to {what}: {exc.message}",
                hint="run `az login`, or set the ARM_* variables the azure-native provider uses "
                     "(ARM_CLIENT_ID, ARM_TENANT_ID and ARM_CLIENT_SECRET or ARM_USE_OIDC=true)",
            ) from exc
        if exc.status_code == 404:
            raise _NotFound() from exc
        if exc.status_code in (401, 403):
            raise ServiceError(
                f"ARM refused to {what}: {describe_arm_error(exc)}",
                hint="sign in as an identity with Cognitive Services Contributor (or Contributor) on the "
                "subscription: purging needs Microsoft.CognitiveServices/locations/resourceGroups/deletedAccounts/delete",
            ) from exc
        raise ServiceError(f"ARM failed to {what}: {describe_arm_error(exc)}", hint="retry; see the ARM error code above") from exc


def describe_arm_error(exc: HttpResponseError) -> str:
    """`HTTP <status> <code>: <message>` from ARM's error envelope."""
    error = getattr(exc, "error", None)
    code = getattr(error, "code", None)
    message = getattr(error, "message", None) or exc.message
    return f"HTTP {exc.status_code} {code}: {message}" if code else f"HTTP {exc.status_code}: {message}"

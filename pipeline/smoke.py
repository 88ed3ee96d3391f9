"""The stack's smoke test, library side: ask a new deployment until it answers, waiting out what settles by itself.

Right after `pulumi up` creates a deployment and role assignments, two things are normal for a few minutes and
are waited out: the deployment answers 404 (DeploymentNotFound, "is not available") and Entra role assignments
have not propagated yet (401/403 PermissionDenied; Azure documents up to ~10 minutes). Two things never fix
themselves and fail at once, in one line that says the way out: the account's network rules refuse this machine
(403 "Public access is disabled" / "Virtual Network/Firewall rules"), or the endpoint cannot be reached at all.
"""
from __future__ import annotations

import base64
import json
import time
from collections.abc import Callable
from typing import Final

import openai
import tenacity

from pipeline.chat import ask
from pipeline.clients import describe_api_error
from pipeline.errors import ServiceError
from pipeline.retrying import stop_before_timeout

NETWORK_MESSAGES: Final = ("public access is disabled", "virtual network/firewall rules",
                           "a virtual network is configured for this resource")
"""Azure's 403 texts for network rules (they come with code "403", unlike role errors)."""
SMOKE_TEST_ROLE: Final = "Cognitive Services OpenAI User"
NETWORK_WAY_OUT: Final = ("run `pulumi up` from inside the account's network (a runner in the virtual network that "
                          "holds its private endpoint), or add this runner's public IP to allowedIpRanges")


class _Settling(Exception):
    """A refusal that waiting fixes: what it waits for, and the error as the caller would see it."""

    def __init__(self, waiting_for: str, error: ServiceError) -> None:
        super().__init__(waiting_for)
        self.waiting_for, self.error = waiting_for, error


def ask_until_answered(client: openai.AzureOpenAI, deployment: str, question: str, *, few_shot: bool = True,
                       timeout_seconds: float = 600.0, sleep_seconds: float = 10.0,
                       on_wait: Callable[[str], None] = lambda message: None,
                       sleep: Callable[[float], None] = time.sleep) -> str:
    """`pipeline.chat.ask`, retried while the deployment is not serving yet or the caller's role has not
    propagated; `on_wait` gets one progress line per retry. Gives up at the deadline with a `ServiceError`
    naming what is missing; network refusals and an unreachable endpoint fail at once."""

    def attempt() -> str:
        try:
            return ask(client, deployment, question, few_shot=few_shot)
        except ServiceError as exc:
            raise _Settling(_classify(client, deployment, exc, exc.__cause__), exc) from exc

    stop = stop_before_timeout(timeout_seconds)

    def announce(state: tenacity.RetryCallState) -> None:
        settling = state.outcome.exception() if state.outcome else None
        if isinstance(settling, _Settling):
            on_wait(f"smoke test: waiting for {settling.waiting_for} ({_detail(settling.error)}); "
                    f"waited {stop.waited(state):.0f}s of {timeout_seconds:.0f}s, next try in {sleep_seconds:.0f}s")

    retrying = tenacity.Retrying(retry=tenacity.retry_if_exception_type(_Settling),
                                 wait=tenacity.wait_fixed(sleep_seconds), stop=stop, before_sleep=announce,
                                 sleep=sleep, reraise=True)
    try:
        return retrying(attempt)
    except _Settling as settling:
        raise _gave_up(client, deployment, settling, timeout_seconds) from settling.error


def _classify(client: openai.AzureOpenAI, deployment: str, exc: ServiceError, cause: BaseException | None) -> str:
    """What a retry would wait for; raises at once for what no wait can fix."""
    if isinstance(cause, openai.APIConnectionError):
        raise ServiceError(f"smoke test cannot reach {_account_url(client)} from this machine ({cause}); "
                           f"{NETWORK_WAY_OUT}") from cause
    if isinstance(cause, openai.NotFoundError) or "is not available" in exc.message:
        return f"deployment {deployment!r} to start serving"
    if isinstance(cause, (openai.AuthenticationError, openai.PermissionDeniedError)):
        text = describe_api_error(cause).lower()
        if any(marker in text for marker in NETWORK_MESSAGES):
            raise ServiceError(f"smoke test refused by the network rules of {_account_url(client)}: "
                               f"{describe_api_error(cause)}; {NETWORK_WAY_OUT}") from cause
        if _uses_key(client):
            raise exc  # a wrong or disabled key: waiting does not help, the caller's hint says what to do
        return f"the role assignment of {_principal_text(client)} to take effect on {_account_url(client)}"
    raise exc


def _gave_up(client: openai.AzureOpenAI, deployment: str, settling: _Settling, timeout_seconds: float) -> ServiceError:
    if settling.waiting_for.startswith("the role assignment"):
        return ServiceError(
            f"smoke test: {_principal_text(client)} still may not call deployment {deployment!r} after "
            f"{timeout_seconds:.0f}s ({_detail(settling.error)})",
            hint=f"it needs '{SMOKE_TEST_ROLE}' (or 'Cognitive Services OpenAI Contributor') on the account "
                 f"{_account_url(client)}; the stack assigns it to the identity running `pulumi up`. Role "
                 "assignments can take up to ~10 minutes to apply: run `pulumi up` again, or check the assignment "
                 "with `az role assignment list --assignee <object id> --scope <account id>`")
    return ServiceError(f"smoke test: deployment {deployment!r} did not start serving within {timeout_seconds:.0f}s "
                        f"({_detail(settling.error)})",
                        hint="check the deployment in the portal (`aoai-ft status`); run `pulumi up` again to retry")


def _detail(exc: ServiceError) -> str:
    cause = exc.__cause__
    return describe_api_error(cause) if isinstance(cause, openai.APIError) else exc.message


def _account_url(client: openai.AzureOpenAI) -> str:
    """The account endpoint (the client's base URL ends in /openai/)."""
    base = str(client.base_url).rstrip("/")
    return base.removesuffix("/openai").removesuffix("/openai/v1") + "/"


def _uses_key(client: openai.AzureOpenAI) -> bool:
    return getattr(client, "_azure_ad_token_provider", None) is None and getattr(client, "_azure_ad_token", None) is None


def _principal_text(client: openai.AzureOpenAI) -> str:
    object_id = caller_object_id(client)
    return f"principal {object_id}" if object_id else "the identity running `pulumi up`"


def caller_object_id(client: openai.AzureOpenAI) -> str | None:
    """The `oid` claim of the client's Entra token (who the service sees), or None with a key or an opaque token."""
    provider = getattr(client, "_azure_ad_token_provider", None)
    try:
        token = provider() if callable(provider) else getattr(client, "_azure_ad_token", None)
        payload = str(token).split(".")[1]
        claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    except Exception:  # noqa: BLE001 - best effort: the message only gets less specific
        return None
    oid = claims.get("oid") if isinstance(claims, dict) else None
    return str(oid) if oid else None

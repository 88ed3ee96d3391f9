"""Who is calling which account through which API surface: path prefix, api-version and auth, checked once.

Every data-plane route is served under four prefixes (see `PREFIXES`): the default account at `/openai` and
`/openai/v1`, and any account at `/accounts/{account}/openai[/v1]` (its ARM `properties.endpoint`).

api-version policy (dated surface): any `YYYY-MM-DD` or `YYYY-MM-DD-preview` string is accepted, including
2023-05-01 / 2023-05-15 that the lab's openai==0.28.1 code sends although those versions predate
fine-tuning jobs on Azure; being strict there would only break the lab's code, not catch a real mistake.
A missing api-version is Azure's 404 "Resource not found"; a malformed one is 400 "API version not
supported". The v1 surface needs none (`preview`/`latest`/`v1` or a date are accepted if sent).
Preview-only operations (pause/resume) need a `-preview` version or the v1 surface.
"""
from __future__ import annotations

import re
from dataclasses import dataclass

from fastapi import Request

from pipeline.emulator.accounts import Account
from pipeline.emulator.dataplane.access import ACCESS_DENIED, Caller, authenticate, authorize, check_network, data_action
from pipeline.emulator.errors import AzureError
from pipeline.emulator.state import EmulatorState

PREFIXES: tuple[str, ...] = ("/openai", "/openai/v1", "/accounts/{account}/openai", "/accounts/{account}/openai/v1")
DATED_VERSION = re.compile(r"^\d{4}-\d{2}-\d{2}(-preview)?$")
V1_VERSIONS = frozenset({"v1", "preview", "latest"})

__all__ = ["ACCESS_DENIED", "CallContext", "PREFIXES", "check_api_version", "resolve", "resource_not_found"]


@dataclass(frozen=True)
class CallContext:
    """The account a request addresses and the surface it came in on."""

    account: Account
    v1: bool
    api_version: str | None
    caller: Caller | None = None

    @property
    def preview(self) -> bool:
        """Preview features (pause/resume, `method`): a -preview dated version, or the v1 surface."""
        return self.v1 or (self.api_version or "").endswith("-preview")

    @property
    def created_status(self) -> int:
        """Creating a job/file answers 201 on the dated surface, 200 on v1, as Azure does."""
        return 200 if self.v1 else 201


def resource_not_found() -> AzureError:
    return AzureError(404, "404", "Resource not found")


def check_api_version(request: Request, v1: bool) -> str | None:
    version = request.query_params.get("api-version")
    if version is None:
        if v1:
            return None
        raise resource_not_found()
    if DATED_VERSION.match(version) or (v1 and version in V1_VERSIONS):
        return version
    raise AzureError(400, "BadRequest", f"API version not supported: {version!r}. Use e.g. 2024-10-21 or 2025-04-01-preview.")


def resolve(state: EmulatorState, request: Request, *, legacy_default: bool = False) -> CallContext:
    """Check account, api-version, network rules, credentials and roles of a data-plane request (in that order).

    `legacy_default`: the openai==0.28.1 events route, which has neither prefix nor api-version.
    """
    name = request.path_params.get("account") or state.config.default_account
    account = state.accounts.lookup(name)
    if account is None:
        raise resource_not_found()
    if legacy_default:
        version = request.query_params.get("api-version")
        v1 = False
    else:
        v1 = "/openai/v1/" in request.scope["path"]
        version = check_api_version(request, v1)
    check_network(state, request, account)
    caller = authenticate(state, request, account)
    authorize(state, caller, account, data_action(request))
    return CallContext(account=account, v1=v1, api_version=version, caller=caller)

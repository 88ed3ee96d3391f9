"""The ARM plane: the slice of Azure Resource Manager the project touches, faithful enough for
`azure-mgmt-cognitiveservices`, Pulumi's azure-native provider and the lab's raw `requests.put`.

ARM paths are case-insensitive (`resourceGroups` and `resourcegroups` are the same), which FastAPI's router
is not, so one catch-all route under `/subscriptions/` dispatches on case-insensitive regular expressions.
Every request needs `Authorization: Bearer <token>` (config.arm_token: None = any non-empty token; a token the
emulator's managed-identity endpoint issued for https://management.azure.com always passes) and an
`api-version` query parameter (any value), then the subscription must be the emulator's.

Handlers: resource groups (`arm_groups`), accounts, keys and soft delete (`arm_accounts`), deployments and
their async operations (`arm_deployments`), role assignments/definitions (`arm_roles`).
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Callable

from fastapi import APIRouter, Request
from fastapi.responses import Response

from pipeline.emulator.arm_accounts import AccountHandlers
from pipeline.emulator.arm_common import ArmContext, Operations
from pipeline.emulator.arm_deployments import DeploymentHandlers
from pipeline.emulator.arm_groups import GroupHandlers, ResourceGroup, ResourceGroups
from pipeline.emulator.arm_roles import RoleHandlers
from pipeline.emulator.errors import AzureError
from pipeline.emulator.identity import MANAGEMENT_AUDIENCE
from pipeline.emulator.state import EmulatorState

_NAME = r"[^/]+"
SUB = rf"/subscriptions/(?P<sub>{_NAME})"
RG = rf"{SUB}/resourcegroups/(?P<rg>{_NAME})"
CS = r"/providers/microsoft\.cognitiveservices"
ACCOUNT = rf"{RG}{CS}/accounts/(?P<account>{_NAME})"
DELETED = rf"{SUB}{CS}/locations/(?P<location>{_NAME})/resourcegroups/(?P<rg>{_NAME})/deletedaccounts/(?P<account>{_NAME})"
SCOPE = rf"(?P<scope>{SUB}(?:/.+?)?)"
AUTHZ = r"/providers/microsoft\.authorization"

METHODS = ["GET", "PUT", "POST", "DELETE", "HEAD", "PATCH"]


@dataclass(frozen=True)
class Route:
    method: str
    pattern: re.Pattern[str]
    handler: Callable[..., Response]


def _routes(groups: GroupHandlers, accounts: AccountHandlers, deployments: DeploymentHandlers,
            roles: RoleHandlers) -> list[Route]:
    table: list[tuple[str, str, Callable[..., Response]]] = [
        ("GET", SUB, groups.get_subscription),
        ("GET", rf"{SUB}/resourcegroups", groups.list),
        ("PUT", RG, groups.put),
        ("GET", RG, groups.get),
        ("HEAD", RG, groups.head),
        ("DELETE", RG, groups.delete),
        ("GET", rf"{SUB}{CS}/accounts", accounts.list_in_subscription),
        ("GET", rf"{RG}{CS}/accounts", accounts.list_in_group),
        ("PUT", ACCOUNT, accounts.put),
        ("GET", ACCOUNT, accounts.get),
        ("DELETE", ACCOUNT, accounts.delete),
        ("POST", rf"{ACCOUNT}/listkeys", accounts.list_keys),
        ("POST", rf"{ACCOUNT}/regeneratekey", accounts.regenerate_key),
        ("GET", rf"{SUB}{CS}/deletedaccounts", accounts.list_deleted),
        ("GET", DELETED, accounts.get_deleted),
        ("DELETE", DELETED, accounts.purge),
        ("GET", rf"{ACCOUNT}/deployments", deployments.list),
        ("PUT", rf"{ACCOUNT}/deployments/(?P<deployment>{_NAME})", deployments.put),
        ("PATCH", rf"{ACCOUNT}/deployments/(?P<deployment>{_NAME})", deployments.patch),
        ("GET", rf"{ACCOUNT}/deployments/(?P<deployment>{_NAME})", deployments.get),
        ("DELETE", rf"{ACCOUNT}/deployments/(?P<deployment>{_NAME})", deployments.delete),
        ("GET", rf"{SUB}{CS}/locations/(?P<location>{_NAME})/operationstatuses/(?P<operation>{_NAME})",
         deployments.operation_status),
        ("GET", rf"{SCOPE}{AUTHZ}/roleassignments", roles.list),
        ("PUT", rf"{SCOPE}{AUTHZ}/roleassignments/(?P<name>{_NAME})", roles.put),
        ("GET", rf"{SCOPE}{AUTHZ}/roleassignments/(?P<name>{_NAME})", roles.get),
        ("DELETE", rf"{SCOPE}{AUTHZ}/roleassignments/(?P<name>{_NAME})", roles.delete),
        ("GET", rf"{SCOPE}{AUTHZ}/roledefinitions/(?P<guid>{_NAME})", roles.get_definition),
    ]
    return [Route(m, re.compile(p + "/?", re.IGNORECASE), h) for m, p, h in table]


def _check_token(state: EmulatorState, request: Request) -> None:
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    if not header:
        raise AzureError(401, "AuthenticationFailed", "Authentication failed. The 'Authorization' header is missing.")
    if scheme.lower() != "bearer" or not token.strip():
        raise AzureError(401, "AuthenticationFailed",
                         "Authentication failed. The 'Authorization' header is not of the form 'Bearer <token>'.")
    expected = state.config.arm_token
    if expected is not None and token.strip() != expected:
        claims = state.tokens.verify(token.strip(), state.clock.now())  # its own managed-identity tokens
        if claims is not None and claims.get("aud") == MANAGEMENT_AUDIENCE:
            return
        raise AzureError(401, "InvalidAuthenticationToken",
                         "The access token is invalid (the emulator was started with a different --arm-token).")


_GUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
"""Any well-formed subscription id is served, each its own namespace of groups, accounts and roles (as LocalStack
serves any account id); the default subscription also has the default group and account."""


def build_router(state: EmulatorState) -> APIRouter:
    groups_registry = ResourceGroups(state.db)
    config = state.config
    if groups_registry.get(config.subscription_id, config.default_resource_group) is None:
        groups_registry.put(ResourceGroup(config.subscription_id, config.default_resource_group,
                                          config.location, {}, state.clock.now()))
    groups = GroupHandlers(groups_registry)
    accounts = AccountHandlers(state, groups_registry)
    deployments = DeploymentHandlers(state, accounts, Operations(state))
    roles = RoleHandlers(state.db)
    groups.on_delete.append(accounts.delete_group_accounts)
    groups.on_delete.append(lambda ctx, group: roles.delete_under(group.arm_id))
    routes = _routes(groups, accounts, deployments, roles)
    router = APIRouter()

    @router.api_route("/subscriptions/{path:path}", methods=METHODS, include_in_schema=False)
    async def arm(request: Request) -> Response:
        path = request.url.path.rstrip("/")
        _check_token(state, request)
        if "api-version" not in request.query_params:
            raise AzureError(400, "MissingApiVersionParameter",
                             "The api-version query parameter (?api-version=) is required for all requests.")
        matched = [(route, m) for route in routes if (m := route.pattern.fullmatch(path))]
        if not matched:
            raise AzureError(404, "InvalidResourceType",
                             f"The resource type for '{request.url.path}' is not served by the aoai-ft emulator.")
        found = next(((r, m) for r, m in matched if r.method == request.method), None)
        if found is None:
            allowed = sorted({r.method for r, _ in matched})
            raise AzureError(405, "MethodNotAllowed",
                             f"The {request.method} method is not allowed here; use {', '.join(allowed)}.",
                             headers={"Allow": ", ".join(allowed)})
        route, match = found
        sub = match["sub"].lower()
        if not _GUID.fullmatch(sub):
            raise AzureError(400, "InvalidSubscriptionId",
                             f"The provided subscription identifier '{match['sub']}' is malformed or invalid.")
        ctx = ArmContext(state=state, request=request, body=await request.body())
        params = {k: v for k, v in match.groupdict().items() if v is not None} | {"sub": sub}
        return route.handler(ctx, **params)

    return router

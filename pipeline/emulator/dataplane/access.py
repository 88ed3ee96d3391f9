"""Who may call an account's data plane: network rules, then the caller's credential, then its roles.

Network (checked first, as Azure's gateway does; the ARM plane is never subject to them):
- `publicNetworkAccess: Disabled` -> 403 `{"code": "403", "message": "Public access is disabled. Please configure
  private endpoint."}` (Azure's text, as quoted in Azure-Samples and MicrosoftDocs issue reports);
- `networkAcls.defaultAction: Deny` and the caller's address in no `ipRules` entry -> 403 `{"code": "403",
  "message": "Access denied due to Virtual Network/Firewall rules."}` (Azure's text, quoted in
  Azure-Samples/azure-sql-db-chatbot#3). Callers listed in `EmulatorConfig.private_endpoint_clients` count as
  arriving through the account's private endpoint and pass both.

Credentials: `api-key` must be key1/key2 (and local auth on). A bearer token the emulator issued names a
principal, which needs a role whose dataActions cover the operation, assigned at the account or above and older
than `role_propagation_seconds`; otherwise 401 `PermissionDenied` "Principal does not have access to
API/Operation." (Azure's text, e.g. microsoft/semantic-kernel#10020). Any other bearer token: exactly
`arm_token` when the emulator has one, any non-empty token when it has none (no principal, no role check).
A token that fails this is Azure's 401 "Unauthorized. Access token is missing, invalid, audience is incorrect
(https://cognitiveservices.azure.com), or have expired." (Azure sends it as a flat `{statusCode, message}`;
the emulator keeps its one envelope).
"""
from __future__ import annotations

import fnmatch
import hmac
import ipaddress
import re
from dataclasses import dataclass

from fastapi import Request

from pipeline.emulator.accounts import Account
from pipeline.emulator.arm_roles import BUILT_IN_ROLES, SCHEMA as ROLES_SCHEMA, covers
from pipeline.emulator.errors import AzureError
from pipeline.emulator.identity import COGNITIVE_SERVICES_AUDIENCE
from pipeline.emulator.state import EmulatorState

ACCESS_DENIED = (
    "Access denied due to invalid subscription key or wrong API endpoint. Make sure to provide a valid key for an "
    "active subscription and use a correct regional API endpoint for your resource."
)
PUBLIC_ACCESS_DISABLED = "Public access is disabled. Please configure private endpoint."
FIREWALL_DENIED = "Access denied due to Virtual Network/Firewall rules."
PERMISSION_DENIED = "Principal does not have access to API/Operation."
INVALID_TOKEN = ("Unauthorized. Access token is missing, invalid, audience is incorrect "
                 "(https://cognitiveservices.azure.com), or have expired.")
DATA_ACTION_PREFIX = "Microsoft.CognitiveServices/accounts/OpenAI"
_RESOURCE = re.compile(r"/openai(?:/v1)?/(?P<rest>.*)$|^/fine_tuning/(?P<legacy>.*)$")


@dataclass(frozen=True)
class Caller:
    """How a request authenticated: `principal` is the object id behind an emulator-issued token, else None."""

    via: str  # "key", "token" (emulator-issued), "static-token"
    principal: str | None = None
    groups: tuple[str, ...] = ()


def check_network(state: EmulatorState, request: Request, account: Account) -> None:
    """Azure's 403 when the account's network rules keep the caller out."""
    address = request.client.host if request.client else ""
    if _in_any(address, state.config.private_endpoint_clients):
        return
    props = account.properties
    if str(props.get("publicNetworkAccess") or "").lower() == "disabled":
        raise AzureError(403, "403", PUBLIC_ACCESS_DISABLED)
    acls = props.get("networkAcls") or {}
    if str(acls.get("defaultAction") or "").lower() == "deny":
        rules = [str(rule.get("value", "")) for rule in acls.get("ipRules") or [] if isinstance(rule, dict)]
        if not _in_any(address, rules):
            raise AzureError(403, "403", FIREWALL_DENIED)


def _in_any(address: str, networks: list[str]) -> bool:
    if not networks:
        return False
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False
    for network in networks:
        try:
            if ip in ipaddress.ip_network(network, strict=False):
                return True
        except ValueError:
            continue
    return False


def authenticate(state: EmulatorState, request: Request, account: Account) -> Caller:
    """The caller behind the request's `api-key` or bearer token (see the module docstring)."""
    key = request.headers.get("api-key")
    if key is not None:
        if not any(hmac.compare_digest(key.encode(), k.encode()) for k in (account.key1, account.key2)):
            raise AzureError(401, "401", ACCESS_DENIED)
        if account.local_auth_disabled:
            raise AzureError(403, "AuthenticationTypeDisabled", "Key based authentication is disabled for this resource.")
        return Caller("key")
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    token = token.strip()
    if scheme.lower() != "bearer" or not token:
        raise AzureError(401, "401", ACCESS_DENIED)
    claims = state.tokens.verify(token, state.clock.now())
    if claims is not None:
        if claims.get("aud") != COGNITIVE_SERVICES_AUDIENCE:
            raise AzureError(401, "401", INVALID_TOKEN)
        return Caller("token", str(claims["oid"]), tuple(str(g) for g in claims.get("groups") or ()))
    expected = state.config.arm_token
    if expected is None or hmac.compare_digest(token.encode(), expected.encode()):
        return Caller("static-token")
    raise AzureError(401, "401", INVALID_TOKEN)


def data_action(request: Request) -> str:
    """The RBAC data action a data-plane request needs, e.g. `.../OpenAI/files/read`."""
    match = _RESOURCE.search(request.scope["path"])
    rest = (match["rest"] if match and match["rest"] is not None else "fine_tuning/" + (match["legacy"] or "")) \
        if match else ""
    if rest.endswith("chat/completions"):
        return f"{DATA_ACTION_PREFIX}/deployments/chat/completions/action"
    first = rest.split("/", 1)[0]
    resource = {"fine_tuning": "fine-tunes", "files": "files", "models": "models"}.get(first, first or "unknown")
    verb = {"GET": "read", "DELETE": "delete"}.get(request.method, "write")
    return f"{DATA_ACTION_PREFIX}/{resource}/{verb}"


def authorize(state: EmulatorState, caller: Caller, account: Account, action: str) -> None:
    """A principal needs a propagated role assignment, at the account or above, whose dataActions cover `action`."""
    if caller.principal is None:
        return
    state.db.ensure_schema(ROLES_SCHEMA)
    principals = [caller.principal.lower(), *(g.lower() for g in caller.groups)]
    marks = ",".join("?" * len(principals))
    cutoff = state.clock.now() - state.config.role_propagation_seconds
    rows = state.db.query(
        f"SELECT scope, role_guid FROM role_assignments WHERE lower(principal_id) IN ({marks}) AND created_at <= ?",
        (*principals, cutoff))
    for row in rows:
        role = BUILT_IN_ROLES.get(row["role_guid"])
        if role is None or not covers(row["scope"], account.arm_id):
            continue
        if any(fnmatch.fnmatchcase(action.lower(), pattern.lower()) for pattern in role.data_actions):
            return
    raise AzureError(401, "PermissionDenied", PERMISSION_DENIED)

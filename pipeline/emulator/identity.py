"""Entra ID, as far as the emulator needs it: tokens that name a principal, and a managed-identity endpoint.

Tokens are JWT-shaped (header.payload.signature, HMAC-signed with a key kept in the emulator's database, so a
restart with `--data-dir` keeps them valid) and carry the claims Azure's carry: `oid` (the principal's object id),
`tid`, `appid`, `aud`, `exp`. Clients never parse them; the data plane reads `oid` to check role assignments, and
`pipeline.smoke` reads it to name the principal in a message, as it would with a real Entra token.

The managed-identity endpoint is azure-identity's App Service flavour (GET `?api-version=2019-08-01&resource=...`
with header `X-IDENTITY-HEADER`, optional `client_id`/`object_id`), which works over plain http on loopback.
"""
from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
import time
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from pipeline.emulator.clock import Clock
from pipeline.emulator.config import EmulatedPrincipal, EmulatorConfig
from pipeline.emulator.db import Database
from pipeline.emulator.errors import AzureError

TOKEN_LIFETIME_SECONDS = 3600
SCHEMA = "CREATE TABLE IF NOT EXISTS identity_keys (k TEXT NOT NULL);"
COGNITIVE_SERVICES_AUDIENCE = "https://cognitiveservices.azure.com"
MANAGEMENT_AUDIENCE = "https://management.azure.com"


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def audience_of(resource: str) -> str:
    """`https://cognitiveservices.azure.com/.default` or `.../` -> `https://cognitiveservices.azure.com`."""
    return resource.removesuffix("/.default").rstrip("/")


class TokenIssuer:
    """Signs and checks the emulator's own tokens."""

    def __init__(self, db: Database, tenant_id: str) -> None:
        db.ensure_schema(SCHEMA)
        row = db.query_one("SELECT k FROM identity_keys")
        if row is None:
            db.execute("INSERT INTO identity_keys VALUES (?)", (secrets.token_hex(32),))
            row = db.query_one("SELECT k FROM identity_keys")
        self._key = bytes.fromhex(row["k"])
        self.tenant_id = tenant_id

    def _sign(self, signing_input: str) -> str:
        return _b64(hmac.new(self._key, signing_input.encode(), hashlib.sha256).digest())

    def issue(self, principal: EmulatedPrincipal, resource: str, now: float | None = None) -> tuple[str, int]:
        """A token for `principal` with audience `resource`, and its expiry (epoch seconds)."""
        issued = int(now if now is not None else time.time())
        expires = issued + TOKEN_LIFETIME_SECONDS
        claims = {"aud": audience_of(resource), "iss": f"https://sts.windows.net/{self.tenant_id}/",
                  "iat": issued, "nbf": issued, "exp": expires, "oid": principal.object_id,
                  "tid": self.tenant_id, "appid": principal.client_id, "sub": principal.object_id,
                  "idtyp": "app" if principal.principal_type == "ServicePrincipal" else "user",
                  "groups": list(principal.groups)}
        header = _b64(json.dumps({"alg": "HS256", "typ": "JWT"}).encode())
        payload = _b64(json.dumps(claims, separators=(",", ":")).encode())
        return f"{header}.{payload}.{self._sign(header + '.' + payload)}", expires

    def verify(self, token: str, now: float | None = None) -> dict[str, Any] | None:
        """The claims of a token this emulator issued and that has not expired; None for any other string."""
        parts = token.split(".")
        if len(parts) != 3 or not hmac.compare_digest(parts[2], self._sign(parts[0] + "." + parts[1])):
            return None
        try:
            claims = json.loads(_unb64(parts[1]))
        except ValueError:
            return None
        if not isinstance(claims, dict) or int(claims.get("exp", 0)) <= (now if now is not None else time.time()):
            return None
        return claims


def build_router(config: EmulatorConfig, tokens: TokenIssuer, clock: Clock) -> APIRouter:
    """The managed-identity token endpoint (`IDENTITY_ENDPOINT=<emulator>/identity/token`)."""
    router = APIRouter()

    @router.get("/identity/token", include_in_schema=False)
    async def managed_identity_token(request: Request) -> JSONResponse:
        if not hmac.compare_digest(request.headers.get("x-identity-header", ""), config.identity_header):
            raise AzureError(401, "Unauthorized", "The X-IDENTITY-HEADER header is missing or wrong (IDENTITY_HEADER).")
        resource = request.query_params.get("resource")
        if not resource:
            raise AzureError(400, "invalid_request", "The 'resource' query parameter is required.")
        principal = _pick(config.principals, request.query_params)
        token, expires = tokens.issue(principal, resource, clock.now())
        return JSONResponse({"access_token": token, "expires_on": str(expires), "resource": audience_of(resource),
                             "token_type": "Bearer", "client_id": principal.client_id})

    return router


def _pick(principals: list[EmulatedPrincipal], query: Any) -> EmulatedPrincipal:
    """The principal a managed-identity request names (client_id / object_id), else the system-assigned one."""
    client_id, object_id = query.get("client_id"), query.get("object_id") or query.get("principal_id")
    for principal in principals:
        if (client_id and principal.client_id.lower() == client_id.lower()) or (
                object_id and principal.object_id.lower() == object_id.lower()):
            return principal
    if client_id or object_id:
        raise AzureError(400, "invalid_request",
                         f"No managed identity with {'client_id ' + client_id if client_id else 'object_id ' + str(object_id)} "
                         "is assigned to this host (EmulatorConfig.principals).")
    if not principals:
        raise AzureError(400, "invalid_request",
                         "No managed identity is assigned to this host; add one to EmulatorConfig.principals.")
    return principals[0]

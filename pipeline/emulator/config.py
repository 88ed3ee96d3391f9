"""Settings of one emulator instance (what `aoai-ft emulator` flags set)."""
from __future__ import annotations

import re
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

DEFAULT_SUBSCRIPTION_ID = "00000000-0000-0000-0000-000000000000"
DEFAULT_TENANT_ID = "11111111-1111-1111-1111-111111111111"
MAX_FAULT_SECONDS = 300.0  # longer than any client timeout worth testing; more only hangs a route
HTTP_METHODS = frozenset({"GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"})


class FaultRule(BaseModel):
    """Inject a failure into requests whose path matches `route` (a regular expression, searched).

    kinds: `latency` (sleep `seconds` then serve), `429` (throttled, with Retry-After = `seconds`),
    `500` (internal error), `drop` (connection closed mid-response), `error` (answer `status` with Azure's
    envelope and `code`: e.g. 403 AuthorizationFailed for a missing role, or 404 ResourceNotFound for the moment
    ARM has not yet replicated a change). `rate` is the probability per
    matching request; `count` limits how many times the rule fires (None = forever). Values are checked
    (a regex that compiles, at most 300 s, known HTTP methods, no unknown keys) so a typo is an error, not a
    rule that hangs a route or never fires.
    """

    model_config = ConfigDict(extra="forbid")

    route: str = Field(".*", max_length=1000)
    kind: Literal["latency", "429", "500", "drop", "error"]
    rate: float = Field(1.0, ge=0.0, le=1.0)
    count: int | None = Field(None, ge=1)
    seconds: float = Field(1.0, ge=0.0, le=MAX_FAULT_SECONDS, allow_inf_nan=False)
    methods: list[str] | None = None
    status: int = Field(400, ge=400, le=599)  # kind `error` only
    code: str = Field("InjectedError", min_length=1, max_length=100)  # kind `error` only

    @field_validator("route")
    @classmethod
    def _route_compiles(cls, value: str) -> str:
        try:
            re.compile(value)
        except re.error as exc:
            raise ValueError(f"route {value!r} is not a regular expression: {exc}") from None
        return value

    @field_validator("methods")
    @classmethod
    def _known_methods(cls, value: list[str] | None) -> list[str] | None:
        if value is None:
            return None
        unknown = [m for m in value if m.upper() not in HTTP_METHODS]
        if unknown or not value:
            raise ValueError(f"methods must be some of {', '.join(sorted(HTTP_METHODS))}; got {value!r}")
        return [m.upper() for m in value]


class EmulatedPrincipal(BaseModel):
    """An Entra identity the emulator can issue tokens for (its managed-identity endpoint, `/identity/token`).

    `groups`: object ids of the groups it belongs to, so a role assigned to a group applies to it too.
    """

    object_id: str
    client_id: str
    principal_type: Literal["ServicePrincipal", "User"] = "ServicePrincipal"
    groups: list[str] = []


class EmulatorConfig(BaseModel):
    host: str = "127.0.0.1"
    port: int = 8765
    api_key: str = "emulator-key"
    # Bearer tokens (ARM and data plane): None accepts any non-empty token; a value accepts exactly that token.
    # Tokens the emulator issued itself (managed identity below) are always accepted, and on the data plane they
    # are held to the role assignments made through the ARM plane.
    arm_token: str | None = None
    # Managed identity (azure-identity's App Service flavour): IDENTITY_ENDPOINT=<url>/identity/token and
    # IDENTITY_HEADER=<identity_header>. The first principal is the system-assigned one.
    identity_header: str = "emulator-identity-header"
    principals: list[EmulatedPrincipal] = []
    # A role assignment takes effect on the data plane this long after it was made (Azure: up to ~10 minutes).
    role_propagation_seconds: float = Field(1.0, ge=0)
    # Caller addresses (IPs or CIDRs) that reach accounts through a private endpoint: network rules let them in.
    private_endpoint_clients: list[str] = []
    data_dir: Path | None = None  # None = in memory
    training_seconds: float = Field(20.0, gt=0)
    file_processing_seconds: float = Field(0.5, ge=0)
    deployment_seconds: float = Field(1.0, ge=0)
    eval_run_seconds: float = Field(2.0, ge=0)  # an eval run: queued for a tenth of it, then items complete
    subscription_id: str = DEFAULT_SUBSCRIPTION_ID
    tenant_id: str = DEFAULT_TENANT_ID
    default_account: str = "emulator"
    default_resource_group: str = "rg-emulator"
    location: str = "northcentralus"
    faults: list[FaultRule] = []
    log_requests: bool = True
    seed: int = 0

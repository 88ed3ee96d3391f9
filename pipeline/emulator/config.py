"""Settings of one emulator instance (what `aoai-ft emulator` flags set)."""
from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import BaseModel, Field

DEFAULT_SUBSCRIPTION_ID = "00000000-0000-0000-0000-000000000000"
DEFAULT_TENANT_ID = "11111111-1111-1111-1111-111111111111"


class FaultRule(BaseModel):
    """Inject a failure into requests whose path matches `route` (a regular expression, searched).

    kinds: `latency` (sleep `seconds` then serve), `429` (throttled, with Retry-After = `seconds`),
    `500` (internal error), `drop` (connection closed mid-response). `rate` is the probability per
    matching request; `count` limits how many times the rule fires (None = forever).
    """

    route: str = ".*"
    kind: Literal["latency", "429", "500", "drop"]
    rate: float = Field(1.0, ge=0.0, le=1.0)
    count: int | None = Field(None, ge=1)
    seconds: float = Field(1.0, ge=0.0)
    methods: list[str] | None = None


class EmulatorConfig(BaseModel):
    host: str = "127.0.0.1"
    port: int = 8765
    api_key: str = "emulator-key"
    # ARM needs a Bearer token; None accepts any non-empty token, a value requires exactly that token.
    arm_token: str | None = None
    data_dir: Path | None = None  # None = in memory
    training_seconds: float = Field(20.0, gt=0)
    file_processing_seconds: float = Field(0.5, ge=0)
    deployment_seconds: float = Field(1.0, ge=0)
    subscription_id: str = DEFAULT_SUBSCRIPTION_ID
    tenant_id: str = DEFAULT_TENANT_ID
    default_account: str = "emulator"
    default_resource_group: str = "rg-emulator"
    location: str = "northcentralus"
    faults: list[FaultRule] = []
    log_requests: bool = True
    seed: int = 0

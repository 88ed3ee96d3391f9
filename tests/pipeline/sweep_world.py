"""The sweep tests' world (constants and helpers; the fixtures that build it are in tests/pipeline/conftest.py)."""
from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

BASE_MODEL = "gpt-4o-mini-2024-07-18"  # a base model the emulator can deploy; sweeping does not care which
NOW = datetime.now(timezone.utc).replace(microsecond=0)


def deployment_names(arm: Any, rg: str, account: str) -> set[str]:
    return {d.name for d in arm.deployments.list(rg, account)}

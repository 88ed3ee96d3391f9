"""Fixtures the infra tests share: the raw RegisterResource requests of a program run under mocks."""
from __future__ import annotations

from typing import Any

import pytest
from pulumi.runtime import mocks as pulumi_mocks


@pytest.fixture
def register_requests(monkeypatch: pytest.MonkeyPatch) -> list[Any]:
    """The raw RegisterResource requests (to see secret markers and additional_secret_outputs)."""
    seen: list[Any] = []
    original = pulumi_mocks.MockMonitor.RegisterResource

    def spy(self: Any, request: Any) -> Any:
        seen.append(request)
        return original(self, request)

    monkeypatch.setattr(pulumi_mocks.MockMonitor, "RegisterResource", spy)
    return seen

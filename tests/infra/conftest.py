"""Fixtures the infra tests share: the raw RegisterResource requests of a program run under mocks."""
from __future__ import annotations

from typing import Any

import pytest

from tests.infra.pulumi_harness import recorded_requests


@pytest.fixture
def register_requests(monkeypatch: pytest.MonkeyPatch) -> list[Any]:
    """The raw RegisterResource requests (to see secret markers and additional_secret_outputs)."""
    return recorded_requests(monkeypatch)

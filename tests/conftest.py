"""Hermetic test environment: no Azure credentials or OpenAI settings leak in from the developer's shell,
and nothing can reach the network except loopback."""
from __future__ import annotations

import os
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
DATASETS = ROOT / "datasets"

_LEAKY_PREFIXES = ("AZURE_", "OPENAI_", "PULUMI_", "ARM_", "MSI_", "IDENTITY_")


@pytest.fixture(autouse=True)
def _hermetic_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for key in list(os.environ):
        if key.startswith(_LEAKY_PREFIXES):
            monkeypatch.delenv(key, raising=False)


@pytest.fixture
def datasets_dir() -> Path:
    return DATASETS

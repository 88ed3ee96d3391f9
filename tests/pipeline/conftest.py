"""Fixtures of the pipeline tests: the sweep world, the emulator's default account holding four deployments with
different TTL tags (constants and helpers in tests.pipeline.sweep_world)."""
from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest

from pipeline.arm import StaticTokenCredential, management_client
from pipeline.deploy import DeploymentSpec, deployment_body
from pipeline.emulator import EmulatorServer
from pipeline.sweep import EXPIRES_AT_TAG, expiry_tag
from tests.pipeline.emulated import start
from tests.pipeline.sweep_world import BASE_MODEL, NOW


@pytest.fixture
def sweep_emulator() -> Iterator[EmulatorServer]:
    """Deployments provision instantly here: the sweep, not the deploy wait, is under test."""
    emu = start(deployment_seconds=0)
    try:
        yield emu
    finally:
        emu.stop()


@pytest.fixture
def sweep_arm(sweep_emulator: EmulatorServer) -> Any:
    return management_client(sweep_emulator.config.subscription_id, endpoint=sweep_emulator.url,
                             credential=StaticTokenCredential("emulator-token"), polling_interval=0.1)


@pytest.fixture
def sweep_account(sweep_emulator: EmulatorServer, sweep_arm: Any) -> tuple[str, str]:
    """The emulator's default account with four deployments: expired, not yet expired, no TTL, unreadable TTL."""
    cfg = sweep_emulator.config
    tags = {
        "expired": expiry_tag(1, now=NOW - timedelta(hours=3)),
        "fresh": expiry_tag(24, now=NOW),
        "keeper": {"owner": "tests"},
        "typo": {EXPIRES_AT_TAG: "tomorrow"},
    }
    for name, tag in tags.items():
        spec = DeploymentSpec(subscription_id=cfg.subscription_id, resource_group=cfg.default_resource_group,
                              account_name=cfg.default_account, deployment_name=name, model=BASE_MODEL,
                              sku_name="DeveloperTier" if name == "expired" else "Standard", tags=tag)
        # the same ARM PUT as `aoai-ft deploy`, without waiting out the LRO's Retry-After (provisioning is instant)
        sweep_arm.deployments.begin_create_or_update(spec.resource_group, spec.account_name, name,
                                                     deployment_body(spec), polling=False).result()
    return cfg.default_resource_group, cfg.default_account


@pytest.fixture
def fake_pulumi(tmp_path, monkeypatch: pytest.MonkeyPatch):
    """A stateful stand-in `pulumi` on PATH (see tests.pipeline.fake_pulumi); stacks are added by the test."""
    from tests.pipeline.fake_pulumi import install

    return install(tmp_path, monkeypatch)

"""`aoai-ft sweep` and pipeline.sweep against the emulator's ARM plane, with the real management SDK."""
from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone

import pytest
from click.testing import CliRunner

from pipeline import envnames
from pipeline.arm import ARM_TOKEN_ENV, StaticTokenCredential, management_client
from pipeline.cli import cli
from pipeline.deploy import DeploymentSpec, deployment_body
from pipeline.sweep import EXPIRES_AT_TAG, expiry_tag, parse_expiry, sweep_expired
from tests.pipeline.emulated import start

BASE_MODEL = "gpt-4o-mini-2024-07-18"  # a base model the emulator can deploy; sweeping does not care which
NOW = datetime.now(timezone.utc).replace(microsecond=0)


@pytest.fixture
def fast_emulator():
    """Deployments provision instantly here: the sweep, not the deploy wait, is under test."""
    emu = start(deployment_seconds=0)
    try:
        yield emu
    finally:
        emu.stop()


@pytest.fixture
def arm(fast_emulator):
    return management_client(fast_emulator.config.subscription_id, endpoint=fast_emulator.url,
                             credential=StaticTokenCredential("emulator-token"), polling_interval=0.1)


@pytest.fixture
def account(fast_emulator, arm):
    """The emulator's default account with four deployments: expired, not yet expired, no TTL, unreadable TTL."""
    cfg = fast_emulator.config
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
        arm.deployments.begin_create_or_update(spec.resource_group, spec.account_name, name, deployment_body(spec),
                                               polling=False).result()
    return cfg.default_resource_group, cfg.default_account


def _names(arm, rg: str, account: str) -> set[str]:
    return {d.name for d in arm.deployments.list(rg, account)}


def test_expiry_tag_round_trips() -> None:
    tag = expiry_tag(24, now=datetime(2026, 11, 27, 9, 30, 15, 123, tzinfo=timezone.utc))
    assert tag == {EXPIRES_AT_TAG: "2026-11-28T09:30:15Z"}
    assert parse_expiry(tag[EXPIRES_AT_TAG]) == datetime(2026, 11, 28, 9, 30, 15, tzinfo=timezone.utc)
    assert parse_expiry("2026-11-28T10:30:15+01:00") == datetime(2026, 11, 28, 9, 30, 15, tzinfo=timezone.utc)
    assert parse_expiry("2026-11-28T09:30:15") == datetime(2026, 11, 28, 9, 30, 15, tzinfo=timezone.utc)
    assert parse_expiry("tomorrow") is None


def test_dry_run_deletes_nothing(arm, account) -> None:
    rg, name = account
    report = sweep_expired(arm, rg, name, now=NOW, dry_run=True)
    assert {i.deployment: i.action for i in report.items} == {
        "expired": "would-delete", "fresh": "kept", "keeper": "no-ttl", "typo": "bad-tag"}
    assert _names(arm, rg, name) == {"expired", "fresh", "keeper", "typo"}


def test_expired_deployment_is_deleted_and_the_rest_kept(arm, account) -> None:
    rg, name = account
    report = sweep_expired(arm, rg, name, now=NOW, retry_delay=0.1)
    deleted = [i for i in report.items if i.action == "deleted"]
    assert [(i.deployment, i.model, i.sku) for i in deleted] == [("expired", BASE_MODEL, "DeveloperTier")]
    assert deleted[0].expires_at == NOW - timedelta(hours=2)
    assert _names(arm, rg, name) == {"fresh", "keeper", "typo"}
    # a second sweep finds nothing more to do
    assert sweep_expired(arm, rg, name, now=NOW).removed == []


def test_cli_sweep_against_the_emulator(fast_emulator, arm, account) -> None:
    rg, name = account
    env = {
        envnames.AZURE_SUBSCRIPTION_ID: fast_emulator.config.subscription_id,
        envnames.AZURE_RESOURCE_GROUP: rg,
        envnames.AZURE_OPENAI_RESOURCE_NAME: name,
        envnames.AZURE_RESOURCE_MANAGER_ENDPOINT: fast_emulator.url,
        ARM_TOKEN_ENV: "emulator-token",
    }
    runner = CliRunner()
    tomorrow = (NOW + timedelta(days=2)).strftime("%Y-%m-%dT%H:%M:%SZ")
    dry = runner.invoke(cli, ["sweep", "--dry-run", "--now", tomorrow, "--json"], env=env)
    assert dry.exit_code == 0, dry.output
    planned = json.loads(dry.output)
    assert sorted(i["deployment"] for i in planned["items"] if i["action"] == "would-delete") == ["expired", "fresh"]
    assert _names(arm, rg, name) == {"expired", "fresh", "keeper", "typo"}

    real = runner.invoke(cli, ["sweep"], env=env, terminal_width=200)
    assert real.exit_code == 0, real.output
    assert "deleted 1 of 4 deployment(s)" in real.output
    assert "typo" in real.output and "not an ISO-8601 time" in real.output
    assert _names(arm, rg, name) == {"fresh", "keeper", "typo"}


def test_cli_rejects_a_bad_now_and_a_missing_account(fast_emulator) -> None:
    runner = CliRunner()
    bad = runner.invoke(cli, ["sweep", "--subscription", "s", "--resource-group", "rg", "--account", "a",
                              "--now", "soon"])
    assert bad.exit_code == 2 and "not an ISO-8601 time" in bad.output
    missing = runner.invoke(cli, ["sweep", "--subscription", fast_emulator.config.subscription_id,
                                  "--resource-group", fast_emulator.config.default_resource_group,
                                  "--account", "no-such-account", "--arm-endpoint", fast_emulator.url],
                            env={ARM_TOKEN_ENV: "emulator-token"})
    assert missing.exit_code == 1
    assert "Error: could not list deployments of no-such-account" in missing.output


def test_sweep_reads_the_tag_the_stack_writes() -> None:
    """Contract with infra.deployment: same tag name, and its value parses to now + deploymentTtlHours."""
    from infra.deployment import EXPIRES_AT_TAG as STACK_TAG
    from infra.deployment import deployment_tags
    from infra.settings import StackSettings

    tags = deployment_tags(StackSettings.from_mapping({"deploymentTtlHours": "24"}), now=NOW)
    assert STACK_TAG == EXPIRES_AT_TAG
    assert parse_expiry(tags[EXPIRES_AT_TAG]) == NOW + timedelta(hours=24)
    assert tags[EXPIRES_AT_TAG] == expiry_tag(24, now=NOW)[EXPIRES_AT_TAG]

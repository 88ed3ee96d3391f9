"""pipeline.sweep against the emulator's ARM plane, with the real management SDK (the command: commands/test_sweep.py)."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

from pipeline.sweep import EXPIRES_AT_TAG, expiry_tag, parse_expiry, sweep_expired
from tests.pipeline.sweep_world import BASE_MODEL, NOW, deployment_names

def test_expiry_tag_round_trips() -> None:
    tag = expiry_tag(24, now=datetime(2026, 11, 27, 9, 30, 15, 123, tzinfo=timezone.utc))
    assert tag == {EXPIRES_AT_TAG: "2026-11-28T09:30:15Z"}
    assert parse_expiry(tag[EXPIRES_AT_TAG]) == datetime(2026, 11, 28, 9, 30, 15, tzinfo=timezone.utc)
    assert parse_expiry("2026-11-28T10:30:15+01:00") == datetime(2026, 11, 28, 9, 30, 15, tzinfo=timezone.utc)
    assert parse_expiry("2026-11-28T09:30:15") == datetime(2026, 11, 28, 9, 30, 15, tzinfo=timezone.utc)
    assert parse_expiry("tomorrow") is None


def test_dry_run_deletes_nothing(sweep_arm, sweep_account) -> None:
    rg, name = sweep_account
    report = sweep_expired(sweep_arm, rg, name, now=NOW, dry_run=True)
    assert {i.deployment: i.action for i in report.items} == {
        "expired": "would-delete", "fresh": "kept", "keeper": "no-ttl", "typo": "bad-tag"}
    assert deployment_names(sweep_arm, rg, name) == {"expired", "fresh", "keeper", "typo"}


def test_expired_deployment_is_deleted_and_the_rest_kept(sweep_arm, sweep_account) -> None:
    rg, name = sweep_account
    report = sweep_expired(sweep_arm, rg, name, now=NOW, retry_delay=0.1)
    deleted = [i for i in report.items if i.action == "deleted"]
    assert [(i.deployment, i.model, i.sku) for i in deleted] == [("expired", BASE_MODEL, "DeveloperTier")]
    assert deleted[0].expires_at == NOW - timedelta(hours=2)
    assert deployment_names(sweep_arm, rg, name) == {"fresh", "keeper", "typo"}
    # a second sweep finds nothing more to do
    assert sweep_expired(sweep_arm, rg, name, now=NOW).removed == []


def test_sweep_reads_the_tag_the_stack_writes() -> None:
    """Contract with infra.deployment: same tag name, and its value parses to now + deploymentTtlHours."""
    from infra.deployment import EXPIRES_AT_TAG as STACK_TAG
    from infra.deployment import deployment_tags
    from infra.settings import StackSettings

    tags = deployment_tags(StackSettings.from_mapping({"deploymentTtlHours": "24"}), now=NOW)
    assert STACK_TAG == EXPIRES_AT_TAG
    assert parse_expiry(tags[EXPIRES_AT_TAG]) == NOW + timedelta(hours=24)
    assert tags[EXPIRES_AT_TAG] == expiry_tag(24, now=NOW)[EXPIRES_AT_TAG]

"""The soft-delete guard's provider (create/diff/delete) against the emulator's ARM plane, as Pulumi would call it
(see tests/infra/emulated_arm.py)."""
from __future__ import annotations

import pytest
from pulumi.dynamic.dynamic import serialize_provider

from infra.soft_delete import SoftDeleteProvider
from tests.infra.emulated_arm import EmulatedArm

SUB = "11111111-2222-3333-4444-555555555555"
PROPS = {
    "subscription_id": SUB,
    "location": "northcentralus",
    "resource_group_name": "rg-aoai-ft-dev",
    "account_name": "aoai-ft-1234abcd",
    "purge_on_destroy": True,
    "restore": None,
    "purged_stale": None,
}
WHERE = (SUB, "northcentralus", "rg-aoai-ft-dev", "aoai-ft-1234abcd")
@pytest.fixture(autouse=True)
def _fast_polls(monkeypatch: pytest.MonkeyPatch) -> None:
    from pipeline import arm

    monkeypatch.setattr(arm, "PURGE_WAIT_SECONDS", 2.0)
    monkeypatch.setattr("infra.soft_delete.PURGE_POLL_SECONDS", 0.01)


def test_create_on_a_free_name_changes_nothing(emulated_arm: EmulatedArm) -> None:
    result = SoftDeleteProvider().create(dict(PROPS))
    assert result.outs["restore"] is False and result.outs["purged_stale"] is False
    assert result.id == "softdelete/" + "/".join(WHERE)
    assert [r.method for r in emulated_arm.requests] == ["GET"]


def test_create_purges_a_stale_soft_deleted_account(emulated_arm: EmulatedArm) -> None:
    emulated_arm.soft_delete(*WHERE)
    result = SoftDeleteProvider().create(dict(PROPS))
    assert result.outs["purged_stale"] is True and result.outs["restore"] is False
    assert emulated_arm.purged == [WHERE] and not emulated_arm.is_soft_deleted(*WHERE)


def test_create_restores_when_purging_is_off(emulated_arm: EmulatedArm) -> None:
    emulated_arm.soft_delete(*WHERE)
    result = SoftDeleteProvider().create({**PROPS, "purge_on_destroy": False})
    assert result.outs["restore"] is True
    assert emulated_arm.purged == [] and emulated_arm.is_soft_deleted(*WHERE)


def test_destroy_purges_the_account_pulumi_just_deleted(emulated_arm: EmulatedArm) -> None:
    emulated_arm.soft_delete(*WHERE, visible_after_gets=1)  # Azure lists the deleted account a moment later
    SoftDeleteProvider().delete("id", dict(PROPS))
    assert emulated_arm.purged == [WHERE]
    assert emulated_arm.fired() == [1]  # it did wait out the 404


def test_destroy_keeps_it_when_purging_is_off(emulated_arm: EmulatedArm) -> None:
    emulated_arm.soft_delete(*WHERE)
    SoftDeleteProvider().delete("id", {**PROPS, "purge_on_destroy": False})
    assert emulated_arm.requests == [] and emulated_arm.is_soft_deleted(*WHERE)


def test_diff_replaces_on_identity_and_updates_the_flag() -> None:
    provider = SoftDeleteProvider()
    assert provider.diff("id", PROPS, dict(PROPS)).changes is False
    moved = provider.diff("id", PROPS, {**PROPS, "location": "swedencentral"})
    assert moved.changes and moved.replaces == ["location"]
    flag = provider.diff("id", PROPS, {**PROPS, "purge_on_destroy": False})
    assert flag.changes and not flag.replaces
    updated = provider.update("id", {**PROPS, "restore": True}, {**PROPS, "purge_on_destroy": False})
    assert updated.outs["restore"] is True and updated.outs["purge_on_destroy"] is False


def test_provider_serializes_by_reference() -> None:
    """Pulumi pickles the provider into state; it must stay small and import infra.soft_delete, not embed it."""
    blob = serialize_provider(SoftDeleteProvider())
    assert len(blob) < 2000
    import base64

    assert b"infra.soft_delete" in base64.b64decode(blob)


def test_destroy_then_up_again_against_the_emulator(emulated_arm: EmulatedArm) -> None:
    """Account deleted by Pulumi -> guard purges it -> the same name can be created again at once."""
    from azure.mgmt.cognitiveservices.models import Account, AccountProperties, Sku

    from pipeline import arm

    sub, rg = emulated_arm.server.config.subscription_id, emulated_arm.server.config.default_resource_group
    props = {**PROPS, "subscription_id": sub, "resource_group_name": rg}
    client = arm.management_client(sub, polling_interval=0)
    body = Account(location="northcentralus", kind="OpenAI", sku=Sku(name="S0"),
                   properties=AccountProperties(custom_sub_domain_name=PROPS["account_name"]))

    assert SoftDeleteProvider().create(dict(props)).outs["restore"] is False  # first `pulumi up`
    client.accounts.begin_create(rg, PROPS["account_name"], body).result()
    client.accounts.begin_delete(rg, PROPS["account_name"]).result()  # `pulumi destroy` deletes the account...
    assert arm.find_deleted_account(client, location="northcentralus", resource_group=rg,
                                    account_name=PROPS["account_name"]) is not None
    SoftDeleteProvider().delete("id", dict(props))  # ...then the guard purges it
    assert list(client.deleted_accounts.list()) == []
    client.accounts.begin_create(rg, PROPS["account_name"], body).result()  # `pulumi up` again: name is free


def test_restore_path_against_the_emulator(emulated_arm: EmulatedArm) -> None:
    from azure.mgmt.cognitiveservices.models import Account, AccountProperties, Sku

    from pipeline import arm

    sub, rg = emulated_arm.server.config.subscription_id, emulated_arm.server.config.default_resource_group
    props = {**PROPS, "subscription_id": sub, "resource_group_name": rg, "purge_on_destroy": False}
    client = arm.management_client(sub, polling_interval=0)
    name = PROPS["account_name"]
    client.accounts.begin_create(rg, name, Account(
        location="northcentralus", kind="OpenAI", sku=Sku(name="S0"),
        properties=AccountProperties(custom_sub_domain_name=name))).result()
    key = client.accounts.list_keys(rg, name).key1
    client.accounts.begin_delete(rg, name).result()
    SoftDeleteProvider().delete("id", dict(props))  # purgeOnDestroy false: kept
    assert [a.name for a in client.deleted_accounts.list()] == [name]
    outs = SoftDeleteProvider().create(dict(props)).outs  # next `pulumi up`
    assert outs["restore"] is True
    client.accounts.begin_create(rg, name, Account(
        location="northcentralus", kind="OpenAI", sku=Sku(name="S0"),
        properties=AccountProperties(custom_sub_domain_name=name, restore=True))).result()
    assert client.accounts.list_keys(rg, name).key1 == key

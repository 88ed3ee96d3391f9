"""Accounts through the real azure-mgmt-cognitiveservices client: create, read, list, keys, soft delete,
deletedAccounts, purge, restore; bodies checked against the spec's Account definitions."""
from __future__ import annotations

import pytest
from azure.core.exceptions import HttpResponseError, ResourceNotFoundError
from azure.mgmt.cognitiveservices.models import Account, AccountProperties, Identity, Sku

LOCATION = "northcentralus"


def new_account(subdomain: str | None = None, **props) -> Account:
    return Account(location=LOCATION, kind="OpenAI", sku=Sku(name="S0"), tags={"env": "test"},
                   properties=AccountProperties(custom_sub_domain_name=subdomain, **props))


def test_create_get_and_list_accounts_with_the_sdk(mgmt, emu, rg, arm, account_url, check_spec):
    created = mgmt.accounts.begin_create(rg, "ft-one", new_account("ft-one")).result()

    assert created.name == "ft-one" and created.type == "Microsoft.CognitiveServices/accounts"
    assert created.properties.provisioning_state == "Succeeded"
    assert created.properties.endpoint == emu.account_endpoint("ft-one")
    assert created.properties.custom_sub_domain_name == "ft-one"
    assert created.properties.date_created and created.properties.internal_id and created.etag
    assert created.tags == {"env": "test"}
    assert created.id == account_url("ft-one")

    fetched = mgmt.accounts.get(rg, "ft-one")
    assert fetched.properties.internal_id == created.properties.internal_id
    assert {a.name for a in mgmt.accounts.list_by_resource_group(rg)} == {"emulator", "ft-one"}
    assert {a.name for a in mgmt.accounts.list()} == {"emulator", "ft-one"}

    raw = arm.get(account_url("ft-one"))
    assert raw.status_code == 200
    check_spec("Account", raw.json())
    check_spec("AccountListResult", arm.get(f"/subscriptions/{emu.config.subscription_id}/resourceGroups/{rg}"
                                               "/providers/Microsoft.CognitiveServices/accounts").json())


def test_default_account_points_at_the_bare_server(mgmt, emu, rg):
    default = mgmt.accounts.get(rg, emu.config.default_account)
    assert default.properties.endpoint == emu.url + "/"
    assert mgmt.accounts.list_keys(rg, emu.config.default_account).key1 == emu.api_key


def test_put_twice_updates_in_place_and_keeps_keys(mgmt, rg, arm, account_url, account_body):
    first = arm.put(account_url("ft-upd"), json=account_body("ft-upd"))
    assert first.status_code == 201
    keys = mgmt.accounts.list_keys(rg, "ft-upd")
    body = account_body("ft-upd", disableLocalAuth=False)
    body["tags"] = {"owner": "me"}
    second = arm.put(account_url("ft-upd"), json=body)
    assert second.status_code == 200
    assert second.json()["tags"] == {"owner": "me"}
    assert second.json()["properties"]["dateCreated"] == first.json()["properties"]["dateCreated"]
    assert mgmt.accounts.list_keys(rg, "ft-upd").key1 == keys.key1


def test_system_assigned_identity_gets_a_principal(mgmt, rg):
    account = new_account("ft-mi")
    account.identity = Identity(type="SystemAssigned")
    created = mgmt.accounts.begin_create(rg, "ft-mi", account).result()
    assert created.identity.type == "SystemAssigned"
    assert len(created.identity.principal_id) == 36 and created.identity.tenant_id
    again = mgmt.accounts.begin_create(rg, "ft-mi", account).result()
    assert again.identity.principal_id == created.identity.principal_id


def test_list_and_regenerate_keys(mgmt, rg, arm, account_url, check_spec):
    mgmt.accounts.begin_create(rg, "ft-keys", new_account("ft-keys")).result()
    check_spec("ApiKeys", arm.post(account_url("ft-keys") + "/listKeys").json())
    keys = mgmt.accounts.list_keys(rg, "ft-keys")
    assert keys.key1 and keys.key2 and keys.key1 != keys.key2
    rotated = mgmt.accounts.regenerate_key(rg, "ft-keys", key_name="Key2")
    assert rotated.key1 == keys.key1 and rotated.key2 != keys.key2
    assert mgmt.accounts.list_keys(rg, "ft-keys").key2 == rotated.key2


def test_regenerate_key_rejects_an_unknown_key_name(arm, rg, account_url, account_body):
    arm.put(account_url("ft-rk"), json=account_body("ft-rk"))
    response = arm.post(account_url("ft-rk") + "/regenerateKey", json={"keyName": "Key3"})
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "InvalidRequestContent"
    assert "keyName" in response.json()["error"]["message"]


def test_list_keys_refused_when_local_auth_is_disabled(mgmt, rg):
    mgmt.accounts.begin_create(rg, "ft-noauth", new_account("ft-noauth", disable_local_auth=True)).result()
    with pytest.raises(HttpResponseError) as info:
        mgmt.accounts.list_keys(rg, "ft-noauth")
    assert info.value.status_code == 400
    assert "disableLocalAuth" in info.value.error.message


def test_soft_delete_then_deleted_accounts_list_get_and_purge(mgmt, rg, arm, emu, check_spec):
    mgmt.accounts.begin_create(rg, "ft-del", new_account("ft-del")).result()
    mgmt.accounts.begin_delete(rg, "ft-del").result()

    with pytest.raises(ResourceNotFoundError):
        mgmt.accounts.get(rg, "ft-del")
    assert "ft-del" not in {a.name for a in mgmt.accounts.list()}
    deleted = {a.name: a for a in mgmt.deleted_accounts.list()}
    assert set(deleted) == {"ft-del"}
    record = mgmt.deleted_accounts.get(LOCATION, rg, "ft-del")
    assert record.properties.deletion_date and record.properties.scheduled_purge_date
    assert record.properties.scheduled_purge_date > record.properties.deletion_date
    assert record.id.endswith(f"/locations/{LOCATION}/resourceGroups/{rg}/deletedAccounts/ft-del")

    raw = arm.get(f"/subscriptions/{emu.config.subscription_id}/providers/Microsoft.CognitiveServices/deletedAccounts")
    check_spec("AccountListResult", raw.json())
    check_spec("Account", arm.get(record.id).json())

    mgmt.deleted_accounts.begin_purge(LOCATION, rg, "ft-del").result()
    assert list(mgmt.deleted_accounts.list()) == []
    with pytest.raises(ResourceNotFoundError):
        mgmt.deleted_accounts.get(LOCATION, rg, "ft-del")


def test_recreating_a_soft_deleted_name_needs_restore_or_purge(mgmt, rg):
    mgmt.accounts.begin_create(rg, "ft-again", new_account("ft-again")).result()
    old_keys = mgmt.accounts.list_keys(rg, "ft-again")
    mgmt.accounts.begin_delete(rg, "ft-again").result()

    with pytest.raises(HttpResponseError) as info:
        mgmt.accounts.begin_create(rg, "ft-again", new_account("ft-again")).result()
    assert info.value.status_code == 409
    assert info.value.error.code == "FlagMustBeSetForRestore"

    restored = mgmt.accounts.begin_create(rg, "ft-again", new_account("ft-again", restore=True)).result()
    assert restored.properties.provisioning_state == "Succeeded"
    assert restored.properties.restore is None  # a create-time flag, not stored
    assert mgmt.accounts.list_keys(rg, "ft-again").key1 == old_keys.key1
    assert list(mgmt.deleted_accounts.list()) == []

    mgmt.accounts.begin_delete(rg, "ft-again").result()
    mgmt.deleted_accounts.begin_purge(LOCATION, rg, "ft-again").result()
    mgmt.accounts.begin_create(rg, "ft-again", new_account("ft-again")).result()
    assert mgmt.accounts.list_keys(rg, "ft-again").key1 != old_keys.key1


def test_custom_subdomain_is_globally_unique_even_when_soft_deleted(mgmt, rg):
    mgmt.accounts.begin_create(rg, "ft-a", new_account("shared-sub")).result()
    with pytest.raises(HttpResponseError) as info:
        mgmt.accounts.begin_create(rg, "ft-b", new_account("shared-sub")).result()
    assert info.value.status_code == 409 and info.value.error.code == "CustomDomainInUse"
    mgmt.accounts.begin_delete(rg, "ft-a").result()
    with pytest.raises(HttpResponseError) as info:
        mgmt.accounts.begin_create(rg, "ft-b", new_account("shared-sub")).result()
    assert "soft-deleted" in info.value.error.message


def test_delete_of_a_missing_account_is_204(arm, account_url):
    assert arm.delete(account_url("never-was")).status_code == 204


@pytest.mark.parametrize(
    ("name", "mutate", "code"),
    [
        ("x", None, "InvalidResourceName"),
        ("-bad-start", None, "InvalidResourceName"),
        ("a" * 65, None, "InvalidResourceName"),
        ("ok-name", lambda b: b.pop("location"), "LocationRequired"),
        ("ok-name", lambda b: b.pop("kind"), "InvalidRequestContent"),
        ("ok-name", lambda b: b.update(sku={"tier": "Standard"}), "InvalidRequestContent"),
        ("ok-name", lambda b: b["properties"].update(disableLocalAuth="yes"), "InvalidRequestContent"),
    ],
)
def test_bad_account_bodies_get_arm_errors(arm, account_url, account_body, name, mutate, code):
    body = account_body("ok-sub")
    if mutate:
        mutate(body)
    response = arm.put(account_url(name), json=body)
    assert response.status_code == 400, response.text
    error = response.json()["error"]
    assert error["code"] == code and error["message"]


def test_invalid_json_is_rejected(arm, account_url):
    response = arm.put(account_url("ft-json"), content=b"{not json", headers={"Content-Type": "application/json"})
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "InvalidRequestContent"


def test_account_needs_an_existing_resource_group(arm, account_url, account_body):
    response = arm.put(account_url("ft-x", resource_group="rg-missing"), json=account_body())
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "ResourceGroupNotFound"


def test_resource_group_lifecycle_and_cascading_delete(arm, emu, account_url, account_body, mgmt):
    sub = emu.config.subscription_id
    group = f"/subscriptions/{sub}/resourcegroups/rg-stack"
    assert arm.head(group).status_code == 404
    created = arm.put(group, json={"location": "North Central US", "tags": {"app": "ft"}})
    assert created.status_code == 201
    assert created.json()["location"] == "northcentralus"
    assert arm.put(group, json={"location": "northcentralus"}).status_code == 200
    assert arm.head(group).status_code == 204
    assert arm.get(f"/subscriptions/{sub}/resourceGroups/RG-STACK").json()["name"] == "rg-stack"
    assert "rg-stack" in {g["name"] for g in arm.get(f"/subscriptions/{sub}/resourcegroups").json()["value"]}
    assert arm.put(group, json={"location": "westeurope"}).status_code == 409

    assert arm.put(account_url("ft-in-rg", resource_group="rg-stack"), json=account_body("ft-in-rg")).status_code == 201
    assert arm.delete(group).status_code == 200
    assert arm.get(group).status_code == 404
    assert [a.name for a in mgmt.deleted_accounts.list()] == ["ft-in-rg"]
    assert arm.delete(group).status_code == 204


def test_same_name_in_another_group_is_a_conflict(arm, emu, account_url, account_body):
    arm.put(f"/subscriptions/{emu.config.subscription_id}/resourcegroups/rg-two", json={"location": "eastus"})
    arm.put(account_url("ft-dup"), json=account_body("ft-dup"))
    response = arm.put(account_url("ft-dup", resource_group="rg-two"), json=account_body("ft-dup-2"))
    assert response.status_code == 409

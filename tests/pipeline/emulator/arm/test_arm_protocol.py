"""What every ARM request must carry (Bearer token, api-version, the emulator's subscription), case-insensitive
paths, and the packaged spec subset staying true to the official spec."""
from __future__ import annotations

import json
import time

import pytest
from azure.core.credentials import AccessToken
from azure.core.exceptions import ClientAuthenticationError
from azure.core.pipeline.policies import SansIOHTTPPolicy
from azure.mgmt.cognitiveservices import CognitiveServicesManagementClient

from pipeline.emulator.armspec import SUBSET_PATH, extract_subset, load_subset, request_errors
from tests import loopback
from tests.paths import ARM_SPEC

FULL_SPEC = ARM_SPEC


@pytest.mark.parametrize("headers", [{}, {"Authorization": "Basic abc"}, {"Authorization": "Bearer"}])
def test_requests_without_a_bearer_token_get_401(emu, account_url, headers):
    response = loopback.get(emu.url + account_url("emulator"), params={"api-version": "2025-06-01"}, headers=headers)
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "AuthenticationFailed"


def test_configured_token_must_match(emulator_factory):
    emu = emulator_factory(arm_token="s3cret")
    path = f"{emu.url}/subscriptions/{emu.config.subscription_id}/resourcegroups/{emu.config.default_resource_group}"
    wrong = loopback.get(path, params={"api-version": "1"}, headers={"Authorization": "Bearer nope"})
    assert wrong.status_code == 401 and wrong.json()["error"]["code"] == "InvalidAuthenticationToken"
    right = loopback.get(path, params={"api-version": "1"}, headers={"Authorization": "Bearer s3cret"})
    assert right.status_code == 200


def test_sdk_with_a_rejected_token_raises_authentication_error(emulator_factory):
    emu = emulator_factory(arm_token="s3cret")
    class WrongToken:
        def get_token(self, *scopes: str, **_: object) -> AccessToken:
            return AccessToken("wrong", int(time.time()) + 3600)

    class AllowHttp(SansIOHTTPPolicy):
        def on_request(self, request):  # type: ignore[no-untyped-def]
            request.context.options["enforce_https"] = False

    with CognitiveServicesManagementClient(WrongToken(), emu.config.subscription_id, base_url=emu.url,
                                           per_call_policies=[AllowHttp()]) as client:
        with pytest.raises(ClientAuthenticationError):
            list(client.accounts.list())


def test_api_version_is_required(emu, account_url):
    response = loopback.get(emu.url + account_url("emulator"), headers={"Authorization": "Bearer t"})
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "MissingApiVersionParameter"


def test_paths_are_case_insensitive(arm, sub, rg):
    lower = arm.get(f"/subscriptions/{sub}/resourcegroups/{rg}/providers/microsoft.cognitiveservices/accounts/EMULATOR")
    assert lower.status_code == 200 and lower.json()["name"] == "emulator"
    keys = arm.post(f"/subscriptions/{sub}/resourceGroups/{rg}/providers/Microsoft.CognitiveServices/accounts/emulator/LISTKEYS")
    assert keys.status_code == 200


def test_unknown_route_method_and_malformed_subscription(arm, rg):
    other = arm.get(f"/subscriptions/99999999-9999-9999-9999-999999999999/resourcegroups/{rg}")
    assert other.status_code == 404 and other.json()["error"]["code"] == "ResourceGroupNotFound"  # served, but empty
    malformed = arm.get(f"/subscriptions/not-a-guid/resourcegroups/{rg}")
    assert malformed.status_code == 400 and malformed.json()["error"]["code"] == "InvalidSubscriptionId"
    assert arm.get("/subscriptions/00000000-0000-0000-0000-000000000000/providers/Microsoft.Compute/virtualMachines").status_code == 404
    wrong_method = arm.post(f"/subscriptions/00000000-0000-0000-0000-000000000000/resourcegroups/{rg}")
    assert wrong_method.status_code == 405 and "PUT" in wrong_method.json()["error"]["message"]


def test_subscription_get(arm, sub, emu):
    body = arm.get(f"/subscriptions/{sub}").json()
    assert body["subscriptionId"] == sub and body["tenantId"] == emu.config.tenant_id


def test_packaged_subset_is_the_official_spec_unchanged():
    expected = extract_subset(json.loads(FULL_SPEC.read_text(encoding="utf-8")))
    assert load_subset() == expected, f"regenerate {SUBSET_PATH} with armspec.extract_subset"


def test_subset_covers_what_the_emulator_serves():
    subset = load_subset()
    assert {"Account", "AccountProperties", "Deployment", "DeploymentModel", "Sku"} <= set(subset["definitions"])
    assert all("common-types" in ref for ref in subset["external_refs"])


def test_request_validation_relaxes_extensible_enums_only():
    assert request_errors("Account", {"properties": {"publicNetworkAccess": "SomethingNew"}}) == []
    assert request_errors("RegenerateKeyParameters", {"keyName": "Key3"})  # modelAsString false: closed enum
    assert request_errors("Deployment", {"sku": {"capacity": 1}}) == [("sku", "'name' is a required property")]


def test_any_subscription_is_served_as_its_own_namespace(emu):
    """Like LocalStack's any-account-id: an ARM client naming another subscription gets its own empty one."""
    from azure.mgmt.cognitiveservices.models import Account, AccountProperties, Sku

    from pipeline.arm import StaticTokenCredential, management_client

    other_sub = "3f1e2d3c-4b5a-4968-8776-655443322110"
    other = management_client(other_sub, endpoint=emu.url, credential=StaticTokenCredential("t"), polling_interval=0.05)
    default = management_client(emu.config.subscription_id, endpoint=emu.url, credential=StaticTokenCredential("t"),
                                polling_interval=0.05)
    group = loopback.put(f"{emu.url}/subscriptions/{other_sub}/resourcegroups/rg-team?api-version=2021-04-01",
                         json={"location": "swedencentral"}, headers={"Authorization": "Bearer t"})
    assert group.status_code == 201, group.text
    created = other.accounts.begin_create("rg-team", "team-account", Account(
        kind="OpenAI", sku=Sku(name="S0"), location="swedencentral",
        properties=AccountProperties(custom_sub_domain_name="team-account"))).result()
    assert created.id.startswith(f"/subscriptions/{other_sub}/resourceGroups/rg-team/")
    assert [a.name for a in other.accounts.list()] == ["team-account"]
    assert "team-account" not in [a.name for a in default.accounts.list()]
    assert other.accounts.list_keys("rg-team", "team-account").key1
    assert other.accounts.get("rg-team", "team-account").properties.endpoint  # its data plane is served too

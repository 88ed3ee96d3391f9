"""The production controls, as the real program declares them under Pulumi mocks with the prod example's settings:
private endpoint + private DNS, diagnostic settings, managed identity, customer-managed key, lock - and none of it
in the dev stack."""
from __future__ import annotations

from typing import Any

import pulumi
import pytest

from infra.account import LOCK_NAME
from infra.settings import PRIVATE_DNS_ZONE, PROJECT_NAME
from tests.infra.pulumi_harness import (
    PROJECT,
    ROOT,
    SUBSCRIPTION,
    USER_IDENTITY_CLIENT_ID,
    ProgramRun,
    RecordingMocks,
    run_program,
    shared_run,
    stack_config,
)

PROD_EXAMPLE = ROOT / "Pulumi.prod.yaml.example"
ACCOUNT = "azure-native:cognitiveservices:Account"
ENDPOINT = "azure-native:network:PrivateEndpoint"
ZONE = "azure-native:privatedns:PrivateZone"
LINK = "azure-native:privatedns:VirtualNetworkLink"
ZONE_GROUP = "azure-native:network:PrivateDnsZoneGroup"
WORKSPACE = "azure-native:operationalinsights:Workspace"
DIAGNOSTICS = "azure-native:monitor:DiagnosticSetting"
LOCK = "azure-native:authorization:ManagementLockByScope"
SMOKE = "pulumi-python:dynamic/aoai-finetune:SmokeTest"
FINE_TUNED = "pulumi-python:dynamic/aoai-finetune:FineTunedModel"
EVALUATION = "pulumi-python:dynamic/aoai-finetune:Evaluation"
CONTROL_TYPES = (ENDPOINT, ZONE, LINK, ZONE_GROUP, WORKSPACE, DIAGNOSTICS, LOCK)

VNET = (f"/subscriptions/{SUBSCRIPTION}/resourceGroups/rg-net/providers/Microsoft.Network/virtualNetworks/vnet-prod")
SUBNET = f"{VNET}/subnets/snet-pe"
HUB_ZONE = (f"/subscriptions/{SUBSCRIPTION}/resourceGroups/rg-hub-dns/providers/Microsoft.Network/privateDnsZones/"
            f"{PRIVATE_DNS_ZONE}")
USER_IDENTITY = (f"/subscriptions/{SUBSCRIPTION}/resourceGroups/rg-identities/providers/"
                 "Microsoft.ManagedIdentity/userAssignedIdentities/id-aoai-cmk")
KEY_URI = "https://kv-aoai-prod.vault.azure.net/keys/aoai-cmk/0123456789abcdef0123456789abcdef"


def one(run: ProgramRun, typ: str) -> pulumi.runtime.MockResourceArgs:
    (resource,) = run.mocks.of_type(typ)
    return resource


def prod_config(overrides: dict[str, Any] | None = None) -> dict[str, str]:
    return stack_config("prod", overrides, stack_file=PROD_EXAMPLE)


def request_of(requests: list[Any], typ: str) -> Any:
    (request,) = [r for r in requests if r.type == typ]
    return request


@pytest.fixture
def prod() -> tuple[ProgramRun, list[Any], dict[str, str]]:
    """The prod example as written: one run per test process, which the tests below only read."""
    config = prod_config()
    shared = shared_run(config, stack="prod")
    return shared.run, shared.requests, config


def test_prod_example_puts_a_private_endpoint_in_the_configured_subnet(prod) -> None:
    run, _, config = prod
    subnet = config[f"{PROJECT}:privateEndpointSubnetId"]
    account = one(run, ACCOUNT)
    account_id = (f"/subscriptions/{SUBSCRIPTION}/resourceGroups/rg-openai-prod/providers/"
                  f"Microsoft.CognitiveServices/accounts/{account.inputs['accountName']}")
    endpoint = one(run, ENDPOINT).inputs
    assert endpoint["subnet"] == {"id": subnet}
    assert endpoint["resourceGroupName"] == "rg-openai-prod" and endpoint["location"] == "swedencentral"
    assert endpoint["privateEndpointName"] == f"pe-{account.inputs['accountName']}"
    (connection,) = endpoint["privateLinkServiceConnections"]
    assert connection["privateLinkServiceId"] == account_id and connection["groupIds"] == ["account"]
    assert endpoint["tags"] == account.inputs["tags"] == {"env": "prod", "owner": "ml-platform", "costCenter": "0000"}


def test_prod_example_creates_the_privatelink_zone_linked_to_the_subnets_vnet(prod) -> None:
    run, _, config = prod
    vnet = config[f"{PROJECT}:privateEndpointSubnetId"].rsplit("/subnets/", 1)[0]
    zone = one(run, ZONE).inputs
    assert zone["privateZoneName"] == "privatelink.openai.azure.com" and zone["location"] == "global"
    assert zone["resourceGroupName"] == "rg-openai-prod"
    link = one(run, LINK).inputs
    assert link["privateZoneName"] == "privatelink.openai.azure.com"
    assert link["virtualNetwork"] == {"id": vnet} and link["registrationEnabled"] is False
    assert link["location"] == "global"
    group = one(run, ZONE_GROUP).inputs
    assert group["privateEndpointName"] == one(run, ENDPOINT).inputs["privateEndpointName"]
    assert group["resourceGroupName"] == "rg-openai-prod"
    (zone_config,) = group["privateDnsZoneConfigs"]
    assert zone_config["privateDnsZoneId"] == (f"/subscriptions/{SUBSCRIPTION}/resourceGroups/rg-openai-prod/providers/"
                                               "Microsoft.Network/privateDnsZones/privatelink.openai.azure.com")


def test_smoke_test_waits_for_the_private_endpoint_and_its_dns(prod) -> None:
    run, requests, _ = prod
    smoke = request_of(requests, SMOKE)
    for typ, name in ((ENDPOINT, "openai-private-endpoint"), (ZONE_GROUP, "openai-private-dns-zone-group"),
                      (LINK, "openai-private-dns-link")):
        assert run.urn_of(typ, name) in smoke.dependencies
    # the zone group registers the record in a zone the VNet already resolves through
    assert run.urn_of(LINK, "openai-private-dns-link") in request_of(requests, ZONE_GROUP).dependencies
    # and the endpoint connects to the account, so it comes after it
    assert run.urn_of(ACCOUNT, "openai") in request_of(requests, ENDPOINT).dependencies


def test_prod_example_sends_logs_and_metrics_to_the_configured_workspace(prod) -> None:
    run, requests, config = prod
    assert run.mocks.of_type(WORKSPACE) == []  # the team's own workspace is used, none created
    setting = one(run, DIAGNOSTICS).inputs
    assert setting["workspaceId"] == config[f"{PROJECT}:logAnalyticsWorkspaceId"]
    assert setting["resourceUri"] == run.mocks.of_type(ENDPOINT)[0].inputs["privateLinkServiceConnections"][0][
        "privateLinkServiceId"]
    assert setting["logs"] == [{"category": c, "enabled": True} for c in ("Audit", "RequestResponse", "Trace")]
    assert setting["metrics"] == [{"category": "AllMetrics", "enabled": True}]
    assert run.urn_of(ACCOUNT, "openai") in request_of(requests, DIAGNOSTICS).dependencies


def test_prod_example_has_a_system_identity_and_a_protected_cannotdelete_lock(prod) -> None:
    run, requests, _ = prod
    account = one(run, ACCOUNT).inputs
    assert account["identity"] == {"type": "SystemAssigned"}
    assert "encryption" not in account["properties"]  # Microsoft-managed keys unless a key is configured
    lock = one(run, LOCK).inputs
    assert lock["level"] == "CanNotDelete" and lock["lockName"] == LOCK_NAME
    assert lock["scope"] == run.mocks.of_type(DIAGNOSTICS)[0].inputs["resourceUri"]  # the account
    assert "pulumi state unprotect" in lock["notes"]
    request = request_of(requests, LOCK)
    assert request.protect is True  # `pulumi destroy` stops before deleting anything while the lock exists
    assert run.urn_of(ACCOUNT, "openai") in request.dependencies


def test_controls_are_children_of_their_components(prod) -> None:
    run, _, _ = prod
    prefix = f"urn:pulumi:prod::{PROJECT}::"
    for typ, name in ((ENDPOINT, "openai-private-endpoint"), (ZONE, "openai-private-dns-zone"),
                      (LINK, "openai-private-dns-link"), (ZONE_GROUP, "openai-private-dns-zone-group")):
        assert run.urn_of(typ, name).startswith(prefix + "aoai-finetune:index:PrivateAccess$")
    assert run.urn_of(DIAGNOSTICS, "openai-diagnostics-setting").startswith(
        prefix + "aoai-finetune:index:AccountDiagnostics$")
    assert run.urn_of(LOCK, "openai-lock").startswith(prefix + "aoai-finetune:index:OpenAIAccount$")


def test_an_existing_hub_zone_is_used_and_not_linked_again() -> None:
    run = run_program(prod_config({"privateDnsZoneId": HUB_ZONE}), stack="prod")
    assert run.mocks.of_type(ZONE) == [] and run.mocks.of_type(LINK) == []
    (zone_config,) = one(run, ZONE_GROUP).inputs["privateDnsZoneConfigs"]
    assert zone_config["privateDnsZoneId"] == HUB_ZONE


def test_diagnostics_without_a_workspace_creates_one() -> None:
    run = run_program(prod_config({"logAnalyticsWorkspaceId": ""}), stack="prod")
    workspace = one(run, WORKSPACE).inputs
    assert workspace["workspaceName"] == "log-aoai-ft-prod-prod"
    assert workspace["resourceGroupName"] == "rg-openai-prod" and workspace["location"] == "swedencentral"
    assert workspace["sku"] == {"name": "PerGB2018"} and workspace["retentionInDays"] == 30
    assert one(run, DIAGNOSTICS).inputs["workspaceId"] == (
        f"/subscriptions/{SUBSCRIPTION}/resourceGroups/rg-openai-prod/providers/Microsoft.OperationalInsights/"
        "workspaces/log-aoai-ft-prod-prod")


def test_customer_managed_key_is_read_by_the_user_assigned_identity() -> None:
    mocks = RecordingMocks()
    run = run_program(prod_config({"managedIdentity": "UserAssigned", "userAssignedIdentityId": USER_IDENTITY,
                                   "customerManagedKeyUri": KEY_URI}), mocks, stack="prod")
    account = one(run, ACCOUNT).inputs
    assert account["identity"] == {"type": "UserAssigned", "userAssignedIdentities": [USER_IDENTITY]}
    assert account["properties"]["encryption"] == {
        "keySource": "Microsoft.KeyVault",
        "keyVaultProperties": {"keyVaultUri": "https://kv-aoai-prod.vault.azure.net/", "keyName": "aoai-cmk",
                               "keyVersion": "0123456789abcdef0123456789abcdef",
                               "identityClientId": USER_IDENTITY_CLIENT_ID},
    }
    assert mocks.user_identity_lookups == [{"resourceGroupName": "rg-identities", "resourceName": "id-aoai-cmk"}]


def test_a_key_without_a_version_follows_the_keys_rotation() -> None:
    run = run_program(prod_config({"managedIdentity": "SystemAssigned,UserAssigned",
                                   "userAssignedIdentityId": USER_IDENTITY,
                                   "customerManagedKeyUri": "https://kv-aoai-prod.vault.azure.net/keys/aoai-cmk"}),
                      stack="prod")
    account = one(run, ACCOUNT).inputs
    assert account["identity"]["type"] == "SystemAssigned, UserAssigned"
    assert "keyVersion" not in account["properties"]["encryption"]["keyVaultProperties"]


def test_training_and_evaluation_wait_for_the_private_endpoint_too(register_requests: list[Any]) -> None:
    run = run_program(stack_config("dev", {"privateEndpointSubnetId": SUBNET}))
    endpoint, zone_group = run.urn_of(ENDPOINT, "openai-private-endpoint"), run.urn_of(
        ZONE_GROUP, "openai-private-dns-zone-group")
    for typ in (FINE_TUNED, SMOKE, EVALUATION):
        dependencies = request_of(register_requests, typ).dependencies
        assert endpoint in dependencies and zone_group in dependencies, typ
    assert one(run, LINK).inputs["virtualNetwork"] == {"id": VNET}


def test_the_dev_stack_declares_none_of_the_controls() -> None:
    shared = shared_run(stack_config("dev"))
    run, register_requests = shared.run, shared.requests
    for typ in CONTROL_TYPES:
        assert run.mocks.of_type(typ) == [], typ
    account = one(run, ACCOUNT).inputs
    assert "identity" not in account and "encryption" not in account["properties"]
    assert run.mocks.user_identity_lookups == []
    smoke = request_of(register_requests, SMOKE)
    assert not any("PrivateAccess" in urn or "privatedns" in urn for urn in smoke.dependencies)


def test_public_access_disabled_without_a_private_endpoint_stops_before_any_resource() -> None:
    mocks = RecordingMocks()
    with pytest.raises(pulumi.RunError) as info:
        run_program(prod_config({"privateEndpointSubnetId": ""}), mocks, stack="prod")
    message = str(info.value)
    assert "nothing could reach the account" in message
    assert f"pulumi config set {PROJECT_NAME}:privateEndpointSubnetId" in message
    assert mocks.resources == [] and mocks.calls == []

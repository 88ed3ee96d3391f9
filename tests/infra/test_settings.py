"""StackSettings: Pulumi.yaml and the model agree, stack files validate, bad values name their key."""
from __future__ import annotations

from pathlib import Path

import pytest

from infra.settings import PROJECT_NAME, PROJECT_ROOT, StackConfigError, StackSettings
from tests.infra.pulumi_harness import ROOT, project_file, stack_config


def _plain(config: dict[str, str]) -> dict[str, str]:
    """What from_pulumi_config hands to validation: JSON keys decoded, namespace stripped."""
    import json

    out: dict[str, object] = {}
    for full_key, text in config.items():
        key = full_key.split(":", 1)[1]
        out[key] = json.loads(text) if key in ("tags", "allowedIpRanges") else text
    return out


def test_pulumi_yaml_declares_exactly_the_model_keys() -> None:
    declared = set(project_file()["config"])
    model_keys = {field.alias for field in StackSettings.model_fields.values()}
    assert declared == model_keys
    assert project_file()["name"] == PROJECT_NAME
    assert all(spec.get("description") for spec in project_file()["config"].values())


def test_pulumi_yaml_defaults_equal_model_defaults(tmp_path: Path) -> None:
    empty_stack = tmp_path / "Pulumi.empty.yaml"
    empty_stack.write_text("config: {}\n")
    from_defaults = StackSettings.from_mapping(_plain(stack_config("empty", stack_file=empty_stack)))
    assert from_defaults == StackSettings()


def test_dev_stack_holds_the_lab_values() -> None:
    settings = StackSettings.from_mapping(_plain(stack_config("dev")))
    assert settings.location == "northcentralus"
    assert settings.account_sku == "S0"
    assert settings.base_model == "gpt-4o-mini-2024-07-18"
    assert settings.effective_deployment_name == "gpt-4o-mini-2024-07-18-ft"
    assert settings.disable_local_auth is False
    assert settings.creates_resource_group
    assert settings.training_path == PROJECT_ROOT / "datasets" / "training_set.jsonl"
    assert settings.validation_path == PROJECT_ROOT / "datasets" / "validation_set.jsonl"
    assert settings.project_root == ROOT


def test_prod_example_is_keyless_and_private() -> None:
    settings = StackSettings.from_mapping(_plain(stack_config("prod", stack_file=ROOT / "Pulumi.prod.yaml.example")))
    assert settings.disable_local_auth is True
    assert settings.public_network_access == "Disabled"
    assert not settings.creates_resource_group
    assert settings.principal_type == "Group"
    assert settings.mode == "promote" and settings.source_stack
    # the production controls, on in the example
    assert settings.private_endpoint and settings.virtual_network_id.endswith("/virtualNetworks/vnet-prod")
    assert settings.diagnostic_settings and settings.log_analytics_workspace_id
    assert settings.managed_identity == "SystemAssigned" and settings.lock_account


def test_strings_from_pulumi_are_coerced_and_empty_means_unset() -> None:
    settings = StackSettings.from_mapping(
        {"nEpochs": "3", "learningRateMultiplier": "0.5", "seed": "", "smokeTest": "false", "location": "North Central US"}
    )
    assert settings.n_epochs == 3 and settings.seed is None and settings.smoke_test is False
    assert settings.training.hyperparameters() == {"n_epochs": 3, "learning_rate_multiplier": 0.5}
    assert settings.location == "northcentralus"
    assert StackSettings.from_mapping({"allowedIpRanges": "1.2.3.4, 10.0.0.0/8"}).allowed_ip_ranges == ("1.2.3.4", "10.0.0.0/8")


@pytest.mark.parametrize(
    ("values", "named"),
    [
        ({"suffix": "x" * 41}, "suffix"),
        ({"principalType": "user"}, "principalType"),
        ({"deploymentSku": "Premium"}, "deploymentSku"),
        ({"allowedIpRanges": ["300.1.1.1"]}, "allowedIpRanges"),
        ({"sourceAccountId": "/subscriptions/x/whatever"}, "sourceAccountId"),
        ({"sourceStack": "just-a-name"}, "sourceStack"),
        ({"batchSize": "zero"}, "batchSize"),
        ({"namePrefix": "Has_Upper"}, "namePrefix"),
        ({"nEpocs": "3"}, "nEpocs"),  # typo: unknown keys are refused, not ignored
        ({"deployCheckpoint": "latest"}, "deployCheckpoint"),
        ({"deployCheckpoint": "0"}, "deployCheckpoint"),
        ({"deployCheckpoint": "12.5"}, "deployCheckpoint"),
    ],
)
def test_bad_value_names_the_key(values: dict, named: str) -> None:
    with pytest.raises(StackConfigError) as info:
        StackSettings.from_mapping(values)
    assert f"{PROJECT_NAME}:{named}" in info.value.message
    assert info.value.hint and named in info.value.hint


@pytest.mark.parametrize(
    ("values", "mentions"),
    [
        ({"mode": "promote"}, "sourceStack"),
        ({"mode": "promote", "sourceModel": "gpt-4o-mini-2024-07-18.ft-abc"}, "sourceAccountId"),
        ({"publicNetworkAccess": "Disabled", "allowedIpRanges": ["1.2.3.4"]}, "allowedIpRanges"),
        ({"deployCheckpoint": "best-validation-loss", "validationFile": ""}, "without a validation file"),
        ({"mode": "promote", "sourceStack": "org/aoai-finetune/dev", "deployCheckpoint": "20"},
         "deployCheckpoint is 20, but a promote-mode stack deploys the model its source names"),
    ],
)
def test_bad_combinations_are_explained(values: dict, mentions: str) -> None:
    with pytest.raises(StackConfigError, match=mentions):
        StackSettings.from_mapping(values)


def test_promote_with_explicit_model_is_accepted() -> None:
    settings = StackSettings.from_mapping(
        {
            "mode": "promote",
            "sourceModel": "gpt-4o-mini-2024-07-18.ft-0e208cf33a6a466994aff31a08aba678",
            "sourceAccountId": "/subscriptions/11111111-2222-3333-4444-555555555555/resourceGroups/rg"
            "/providers/Microsoft.CognitiveServices/accounts/aoai-dev",
        }
    )
    assert settings.mode == "promote"


def test_deploy_checkpoint_values() -> None:
    """final by default; a step arrives from Pulumi as a string and is handed on as a number."""
    assert StackSettings.from_mapping({}).checkpoint_choice == "final"
    step = StackSettings.from_mapping({"deployCheckpoint": " 300 "})
    assert (step.deploy_checkpoint, step.checkpoint_choice) == ("300", 300)
    best = StackSettings.from_mapping({"deployCheckpoint": "best-validation-loss"})
    assert best.checkpoint_choice == "best-validation-loss"
    with pytest.raises(StackConfigError) as info:
        StackSettings.from_mapping({"deployCheckpoint": "last"})
    assert info.value.message.endswith(
        f"{PROJECT_NAME}:deployCheckpoint: must be final, best-validation-loss, or a step number such as 300 "
        "(got 'last')")


_SUB = "/subscriptions/11111111-2222-3333-4444-555555555555/resourceGroups/rg/providers/"
_SUBNET = _SUB + "Microsoft.Network/virtualNetworks/vnet/subnets/snet"
_IDENTITY = _SUB + "Microsoft.ManagedIdentity/userAssignedIdentities/id-cmk"


def test_production_controls_are_off_by_default() -> None:
    settings = StackSettings.from_mapping({})
    assert not settings.private_endpoint and not settings.diagnostic_settings and not settings.lock_account
    assert settings.managed_identity == "None" and not settings.customer_managed_key_uri


@pytest.mark.parametrize(
    ("values", "named"),
    [
        ({"privateEndpointSubnetId": _SUB + "Microsoft.Network/virtualNetworks/vnet"}, "privateEndpointSubnetId"),
        ({"privateEndpointSubnetId": _SUBNET,
          "privateDnsZoneId": _SUB + "Microsoft.Network/privateDnsZones/example.com"}, "privateDnsZoneId"),
        ({"diagnosticSettings": True, "logAnalyticsWorkspaceId": "log-platform"}, "logAnalyticsWorkspaceId"),
        ({"managedIdentity": "Both"}, "managedIdentity"),
        ({"managedIdentity": "UserAssigned", "userAssignedIdentityId": "id-cmk"}, "userAssignedIdentityId"),
        ({"customerManagedKeyUri": "https://kv.vault.azure.net/secrets/x"}, "customerManagedKeyUri"),
    ],
)
def test_bad_production_control_names_the_key(values: dict, named: str) -> None:
    with pytest.raises(StackConfigError) as info:
        StackSettings.from_mapping(values)
    assert f"{PROJECT_NAME}:{named}" in info.value.message


@pytest.mark.parametrize(
    ("values", "mentions"),
    [
        ({"publicNetworkAccess": "Disabled"}, "nothing could reach the account"),
        ({"privateDnsZoneId": _SUB + "Microsoft.Network/privateDnsZones/privatelink.openai.azure.com"},
         "privateDnsZoneId is set without privateEndpointSubnetId"),
        ({"logAnalyticsWorkspaceId": _SUB + "Microsoft.OperationalInsights/workspaces/log-platform"},
         "diagnosticSettings is false"),
        ({"managedIdentity": "UserAssigned"}, "go together"),
        ({"userAssignedIdentityId": _IDENTITY}, "go together"),
        ({"managedIdentity": "SystemAssigned", "customerManagedKeyUri": "https://kv-a.vault.azure.net/keys/k"},
         "needs a user-assigned identity"),
    ],
)
def test_production_controls_that_cannot_work_are_explained(values: dict, mentions: str) -> None:
    with pytest.raises(StackConfigError, match=mentions):
        StackSettings.from_mapping(values)


def test_private_and_keyed_prod_settings_are_accepted() -> None:
    settings = StackSettings.from_mapping({
        "publicNetworkAccess": "Disabled", "privateEndpointSubnetId": _SUBNET, "managedIdentity": "UserAssigned",
        "userAssignedIdentityId": _IDENTITY, "customerManagedKeyUri": "https://kv-a.vault.azure.net/keys/k/",
        "diagnosticSettings": "true", "lockAccount": "true",
    })
    assert settings.virtual_network_id == _SUB + "Microsoft.Network/virtualNetworks/vnet"
    assert settings.diagnostic_settings and settings.lock_account and not settings.log_analytics_workspace_id

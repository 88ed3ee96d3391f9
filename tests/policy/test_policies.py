"""Every guardrail, driven through the real `ResourceValidationPolicy.validate` callback with the real
`ResourceValidationArgs` (props wrapped in pulumi_policy's unknown-checking proxy, as the analyzer does)."""
from __future__ import annotations

import copy
from typing import Any

import pytest
from pulumi_policy import EnforcementLevel, ResourceValidationArgs, ResourceValidationPolicy
from pulumi_policy.policy import PolicyCustomTimeouts, PolicyResourceOptions
from pulumi_policy.proxy import UNKNOWN_BOOLEAN_VALUE, UnknownValueError, unknown_checking_proxy

from policy import policies
from policy.policies import ACCOUNT, DEPLOYMENT, ROLE_ASSIGNMENT, GuardrailConfig

POLICIES: dict[str, ResourceValidationPolicy] = {p.name: p for p in policies.build_policies()}

PROD_ACCOUNT: dict[str, Any] = {
    "kind": "OpenAI",
    "location": "swedencentral",
    "sku": {"name": "S0"},
    "properties": {
        "customSubDomainName": "aoai-ft-prod-1a2b",
        "disableLocalAuth": True,
        "publicNetworkAccess": "Disabled",
    },
}
PROD_DEPLOYMENT: dict[str, Any] = {
    "sku": {"name": "Standard", "capacity": 1},
    "properties": {"model": {"format": "OpenAI", "name": "gpt-4o-mini-2024-07-18.ft-abc", "version": "1"}},
}
ROLE: dict[str, Any] = {
    "principalId": "00000000-0000-0000-0000-000000000001",
    "principalType": "ServicePrincipal",
    "roleDefinitionId": "/subscriptions/s/providers/Microsoft.Authorization/roleDefinitions/r",
    "scope": "/subscriptions/s",
}


def run(policy: str, resource_type: str, props: dict[str, Any], *, stack: str = "prod",
        config: dict[str, Any] | None = None, name: str = "res") -> list[str]:
    """Validate one resource with one policy; return the reported violation messages."""
    violations: list[tuple[str, str | None]] = []
    args = ResourceValidationArgs(
        resource_type,
        unknown_checking_proxy(copy.deepcopy(props)),
        f"urn:pulumi:{stack}::aoai-finetune::{resource_type}::{name}",
        name,
        PolicyResourceOptions(False, [], None, [], PolicyCustomTimeouts(0, 0, 0), []),
        None,
        config,
    )
    result = POLICIES[policy].validate(args, lambda message, urn=None: violations.append((message, urn)))
    assert result is None  # synchronous validators
    assert all(urn == args.urn for _, urn in violations)
    return [message for message, _ in violations]


def with_(base: dict[str, Any], path: str, value: Any) -> dict[str, Any]:
    """A deep copy of `base` with the dotted `path` set to `value` (or removed when value is ...)."""
    out = copy.deepcopy(base)
    *parents, last = path.split(".")
    node = out
    for key in parents:
        node = node.setdefault(key, {})
    if value is ...:
        node.pop(last, None)
    else:
        node[last] = value
    return out


def test_pack_has_every_rule_mandatory() -> None:
    assert list(POLICIES) == [
        "prod-local-auth-disabled", "prod-network-restricted", "prod-location-allowed",
        "prod-account-sku-allowed", "prod-deployment-sku-allowed",
        "role-assignment-principal-type", "deployment-capacity-set",
    ]
    assert all(p.enforcement_level is EnforcementLevel.MANDATORY for p in POLICIES.values())


# --- prod-local-auth-disabled ---------------------------------------------------------------------------

def test_local_auth_off_passes_in_prod() -> None:
    assert run("prod-local-auth-disabled", ACCOUNT, PROD_ACCOUNT) == []


@pytest.mark.parametrize("value", [False, ...])
def test_local_auth_on_or_unset_fails_in_prod(value: Any) -> None:
    [message] = run("prod-local-auth-disabled", ACCOUNT, with_(PROD_ACCOUNT, "properties.disableLocalAuth", value), name="acct")
    assert message.startswith("acct: ") and "disableLocalAuth" in message
    assert "pulumi config set aoai-finetune:disableLocalAuth true" in message


def test_prod_rules_do_not_apply_to_dev_stacks() -> None:
    keyed = with_(PROD_ACCOUNT, "properties.disableLocalAuth", False)
    assert run("prod-local-auth-disabled", ACCOUNT, keyed, stack="dev") == []
    assert run("prod-deployment-sku-allowed", DEPLOYMENT, with_(PROD_DEPLOYMENT, "sku.name", "DeveloperTier"), stack="dev") == []


def test_prod_stack_list_comes_from_policy_config() -> None:
    keyed = with_(PROD_ACCOUNT, "properties.disableLocalAuth", False)
    config = {"prodStacks": ["production", "prod-eu"]}
    assert run("prod-local-auth-disabled", ACCOUNT, keyed, stack="prod-eu", config=config) != []
    assert run("prod-local-auth-disabled", ACCOUNT, keyed, stack="prod", config=config) == []


def test_policy_ignores_other_resource_types() -> None:
    assert run("prod-local-auth-disabled", DEPLOYMENT, {"properties": {}}) == []
    assert run("deployment-capacity-set", ACCOUNT, {"sku": {"name": "S0"}}) == []


def test_bad_policy_config_is_a_violation_naming_the_key() -> None:
    [message] = run("prod-local-auth-disabled", ACCOUNT, PROD_ACCOUNT, config={"prodStack": ["prod"]})
    assert "invalid policy config" in message and "prodStack" in message and "--policy-pack-config" in message


def test_unknown_value_during_preview_propagates_for_the_sdk_to_report() -> None:
    # The analyzer turns UnknownValueError into an advisory "can't run during preview" diagnostic.
    unknown = with_(PROD_ACCOUNT, "properties.disableLocalAuth", UNKNOWN_BOOLEAN_VALUE)
    with pytest.raises(UnknownValueError):
        run("prod-local-auth-disabled", ACCOUNT, unknown)


# --- prod-network-restricted ----------------------------------------------------------------------------

@pytest.mark.parametrize("props", [
    PROD_ACCOUNT,
    with_(with_(PROD_ACCOUNT, "properties.publicNetworkAccess", "Enabled"), "properties.networkAcls",
          {"defaultAction": "Deny", "ipRules": [{"value": "203.0.113.0/24"}, {"value": "198.51.100.7"}]}),
    # Deny with no rules admits no public client at all: stricter than an allow-list, so it passes too.
    with_(with_(PROD_ACCOUNT, "properties.publicNetworkAccess", "Enabled"), "properties.networkAcls",
          {"defaultAction": "Deny", "ipRules": []}),
], ids=["private", "deny-with-ip-rules", "deny-without-rules"])
def test_network_restricted_passes(props: dict[str, Any]) -> None:
    assert run("prod-network-restricted", ACCOUNT, props) == []


@pytest.mark.parametrize(("acls", "public", "expected"), [
    (..., ..., "networkAcls.defaultAction is not set"),
    ({"defaultAction": "Allow", "ipRules": [{"value": "203.0.113.0/24"}]}, "Enabled", "defaultAction is Allow"),
    ({"defaultAction": "Deny", "ipRules": [{"value": "0.0.0.0/0"}]}, "Enabled", "lets in every address"),
    ({"defaultAction": "Deny", "ipRules": [{"value": "not-an-ip"}]}, "Enabled", "not an IP address"),
], ids=["public-default", "allow", "deny-but-world-open", "garbage-rule"])
def test_network_open_fails(acls: Any, public: Any, expected: str) -> None:
    props = with_(with_(PROD_ACCOUNT, "properties.publicNetworkAccess", public), "properties.networkAcls", acls)
    [message] = run("prod-network-restricted", ACCOUNT, props)
    assert expected in message and "publicNetworkAccess Disabled" in message


# --- prod-location-allowed ------------------------------------------------------------------------------

def test_location_in_allow_list_passes_ignoring_case_and_spaces() -> None:
    assert run("prod-location-allowed", ACCOUNT, with_(PROD_ACCOUNT, "location", "Sweden Central")) == []


def test_location_outside_allow_list_fails() -> None:
    [message] = run("prod-location-allowed", ACCOUNT, with_(PROD_ACCOUNT, "location", "westeurope"))
    assert "'westeurope'" in message and "allowedLocations" in message and "swedencentral" in message


def test_location_allow_list_from_config() -> None:
    config = {"allowedLocations": ["westeurope"]}
    assert run("prod-location-allowed", ACCOUNT, with_(PROD_ACCOUNT, "location", "westeurope"), config=config) == []
    assert run("prod-location-allowed", ACCOUNT, PROD_ACCOUNT, config=config) != []
    assert "not set" in run("prod-location-allowed", ACCOUNT, with_(PROD_ACCOUNT, "location", ...))[0]


# --- prod-account-sku-allowed ---------------------------------------------------------------------------

def test_account_sku_allowed_passes() -> None:
    assert run("prod-account-sku-allowed", ACCOUNT, PROD_ACCOUNT) == []


def test_account_sku_not_allowed_fails() -> None:
    [message] = run("prod-account-sku-allowed", ACCOUNT, with_(PROD_ACCOUNT, "sku.name", "F0"))
    assert "'F0'" in message and "allowedAccountSkus" in message and "accountSku S0" in message
    assert run("prod-account-sku-allowed", ACCOUNT, with_(PROD_ACCOUNT, "sku", ...)) != []


# --- prod-deployment-sku-allowed ------------------------------------------------------------------------

@pytest.mark.parametrize("sku", ["Standard", "GlobalStandard"])
def test_deployment_sku_allowed_passes(sku: str) -> None:
    assert run("prod-deployment-sku-allowed", DEPLOYMENT, with_(PROD_DEPLOYMENT, "sku.name", sku)) == []


@pytest.mark.parametrize("sku", ["DeveloperTier", "developertier"])
def test_developer_tier_fails_in_prod_even_if_allow_listed(sku: str) -> None:
    config = {"allowedDeploymentSkus": ["Standard", "DeveloperTier"]}
    [message] = run("prod-deployment-sku-allowed", DEPLOYMENT, with_(PROD_DEPLOYMENT, "sku.name", sku), config=config)
    assert "removed after 24 h" in message and "deploymentSku Standard" in message


def test_deployment_sku_outside_allow_list_fails() -> None:
    config = {"allowedDeploymentSkus": ["GlobalStandard"]}
    [message] = run("prod-deployment-sku-allowed", DEPLOYMENT, PROD_DEPLOYMENT, config=config)
    assert "'Standard'" in message and "allowedDeploymentSkus" in message


# --- role-assignment-principal-type (every stack) -------------------------------------------------------

@pytest.mark.parametrize("stack", ["dev", "prod"])
def test_explicit_principal_type_passes(stack: str) -> None:
    assert run("role-assignment-principal-type", ROLE_ASSIGNMENT, ROLE, stack=stack) == []


@pytest.mark.parametrize(("value", "shown"), [(..., "not set"), ("", "not set"), ("Robot", "'Robot'")])
def test_missing_or_bad_principal_type_fails_in_dev_too(value: Any, shown: str) -> None:
    [message] = run("role-assignment-principal-type", ROLE_ASSIGNMENT, with_(ROLE, "principalType", value), stack="dev")
    assert f"principalType is {shown}" in message and "ServicePrincipal" in message


# --- deployment-capacity-set (every stack) --------------------------------------------------------------

@pytest.mark.parametrize("capacity", [1, 50, 10.0])  # numbers arrive from the engine as doubles
def test_capacity_set_passes(capacity: float) -> None:
    assert run("deployment-capacity-set", DEPLOYMENT, with_(PROD_DEPLOYMENT, "sku.capacity", capacity), stack="dev") == []


@pytest.mark.parametrize(("capacity", "shown"), [(..., "not set"), (0, "0"), (1.5, "1.5"), (True, "True"), ("1", "'1'")])
def test_capacity_missing_or_bad_fails(capacity: Any, shown: str) -> None:
    [message] = run("deployment-capacity-set", DEPLOYMENT, with_(PROD_DEPLOYMENT, "sku.capacity", capacity), stack="dev")
    assert f"sku.capacity is {shown}" in message and "deploymentCapacity" in message


# --- stack detection and config model -------------------------------------------------------------------

def test_unknown_stack_counts_as_prod() -> None:
    config = GuardrailConfig()
    assert config.is_prod(None) and config.is_prod("prod") and not config.is_prod("dev")


def test_stack_name_comes_from_the_urn() -> None:
    args = ResourceValidationArgs(ACCOUNT, {}, f"urn:pulumi:prod-eu::aoai-finetune::{ACCOUNT}::a", "a",
                                  PolicyResourceOptions(False, [], None, [], PolicyCustomTimeouts(0, 0, 0), []), None)
    assert policies.stack_name(args) == "prod-eu"


def test_config_schemas_carry_the_model_defaults() -> None:
    schema = POLICIES["prod-location-allowed"].config_schema
    assert schema is not None
    assert set(schema.properties) == {"prodStacks", "allowedLocations"}
    assert schema.properties["allowedLocations"]["default"] == GuardrailConfig().allowed_locations
    assert POLICIES["deployment-capacity-set"].config_schema is None

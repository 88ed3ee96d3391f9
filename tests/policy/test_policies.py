"""Every guardrail, driven through the real `ResourceValidationPolicy.validate` callback with the real
`ResourceValidationArgs` (props wrapped in pulumi_policy's unknown-checking proxy, as the analyzer does)."""
from __future__ import annotations

import copy
from typing import Any

import pytest
from pulumi_policy import (
    EnforcementLevel,
    PolicyResource,
    ResourceValidationArgs,
    StackValidationArgs,
    StackValidationPolicy,
)
from pulumi_policy.policy import PolicyCustomTimeouts, PolicyResourceOptions
from pulumi_policy.proxy import (
    UNKNOWN_ARRAY_VALUE,
    UNKNOWN_BOOLEAN_VALUE,
    UNKNOWN_STRING_VALUE,
    UnknownValueError,
    unknown_checking_proxy,
)

from policy import policies
from policy.policies import ACCOUNT, DEPLOYMENT, ROLE_ASSIGNMENT, GuardrailConfig

POLICIES: dict[str, Any] = {p.name: p for p in policies.build_policies()}

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
        "role-assignment-principal-type", "deployment-capacity-set", "prod-required-tags",
        "prod-private-endpoint", "prod-diagnostic-settings", "prod-account-lock",
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


# --- prod-required-tags ---------------------------------------------------------------------------------

TAGS = {"env": "prod", "owner": "ml-platform"}


@pytest.mark.parametrize("resource_type", [ACCOUNT, policies.PRIVATE_ENDPOINT, policies.PRIVATE_DNS_ZONE,
                                           policies.WORKSPACE])
def test_required_tags_on_every_taggable_prod_resource(resource_type: str) -> None:
    assert run("prod-required-tags", resource_type, {"tags": {**TAGS, "extra": "1"}}) == []
    [message] = run("prod-required-tags", resource_type, {"tags": {"env": "prod"}})
    assert "['owner'] are missing" in message and "pulumi config set --path 'aoai-finetune:tags.owner'" in message
    assert run("prod-required-tags", resource_type, {}, stack="dev") == []


def test_required_tags_come_from_policy_config() -> None:
    config = {"requiredTags": ["costCenter"]}
    assert run("prod-required-tags", ACCOUNT, {"tags": {"costCenter": "42"}}, config=config) == []
    assert "['costCenter']" in run("prod-required-tags", ACCOUNT, {"tags": TAGS}, config=config)[0]
    assert run("prod-required-tags", DEPLOYMENT, {}) == []  # deployments are tagged by the stack's TTL only


# --- whole-stack rules: private endpoint, diagnostics, lock ---------------------------------------------

def resource(resource_type: str, name: str, props: dict[str, Any], *depends_on: PolicyResource,
             stack: str = "prod") -> PolicyResource:
    return PolicyResource(resource_type, unknown_checking_proxy(copy.deepcopy(props)),
                          f"urn:pulumi:{stack}::aoai-finetune::{resource_type}::{name}", name,
                          PolicyResourceOptions(False, [], None, [], PolicyCustomTimeouts(0, 0, 0), []), None, None,
                          list(depends_on), {})


def run_stack(policy: str, resources: list[PolicyResource],
              config: dict[str, Any] | None = None) -> list[tuple[str, str]]:
    """Validate the stack with one stack policy; return (urn, message) per violation."""
    found: list[tuple[str, str]] = []
    assert isinstance(POLICIES[policy], StackValidationPolicy)
    POLICIES[policy].validate(StackValidationArgs(resources, config),
                              lambda message, urn=None: found.append((urn, message)))
    return found


ACCOUNT_ID = ("/subscriptions/11111111-2222-3333-4444-555555555555/resourceGroups/rg/providers/"
              "Microsoft.CognitiveServices/accounts/aoai-ft-prod-1a2b")
PRIVATE = {"name": "aoai-ft-prod-1a2b", "properties": {"publicNetworkAccess": "Disabled"}}
WORKSPACE_ID = "/subscriptions/s/resourceGroups/rg/providers/Microsoft.OperationalInsights/workspaces/log"
ALL_LOGS = [{"category": c, "enabled": True} for c in ("Audit", "RequestResponse", "Trace")]


def private_stack(*, dns: bool = True, by_id: bool = False, stack: str = "prod") -> list[PolicyResource]:
    """An account with public access off and its endpoint (+ zone group), linked by dependency or only by id."""
    account = resource(ACCOUNT, "openai", PRIVATE, stack=stack)
    link = () if by_id else (account,)
    endpoint = resource(policies.PRIVATE_ENDPOINT, "pe", {
        "name": "pe-aoai-ft-prod-1a2b",
        "privateLinkServiceConnections": [{"privateLinkServiceId": ACCOUNT_ID if by_id else "",
                                           "groupIds": ["account"]}],
    }, *link, stack=stack)
    group = resource(policies.DNS_ZONE_GROUP, "zg", {"privateEndpointName": "pe-aoai-ft-prod-1a2b" if by_id else ""},
                     *(() if by_id else (endpoint,)), stack=stack)
    return [account, endpoint] + ([group] if dns else [])


@pytest.mark.parametrize("by_id", [False, True], ids=["by-dependency", "by-id"])
def test_private_account_with_endpoint_and_dns_passes(by_id: bool) -> None:
    assert run_stack("prod-private-endpoint", private_stack(by_id=by_id)) == []


def test_private_account_without_endpoint_fails_on_the_account() -> None:
    [(urn, message)] = run_stack("prod-private-endpoint", private_stack()[:1])
    assert urn.endswith("::openai") and "no private endpoint connects to the account" in message
    assert "pulumi config set aoai-finetune:privateEndpointSubnetId" in message


def test_endpoint_of_another_account_does_not_count() -> None:
    account, endpoint = private_stack(by_id=True, dns=False)
    other = resource(policies.PRIVATE_ENDPOINT, "pe", {"privateLinkServiceConnections": [
        {"privateLinkServiceId": ACCOUNT_ID.replace("1a2b", "9z9z")}]})
    assert "no private endpoint" in run_stack("prod-private-endpoint", [account, other])[0][1]


def test_private_endpoint_without_dns_zone_group_fails_on_the_endpoint() -> None:
    [(urn, message)] = run_stack("prod-private-endpoint", private_stack(dns=False))
    assert urn.endswith("::pe") and "no private DNS zone group" in message


def test_public_or_dev_accounts_need_no_endpoint() -> None:
    public = resource(ACCOUNT, "openai", {"properties": {"publicNetworkAccess": "Enabled"}})
    assert run_stack("prod-private-endpoint", [public]) == []
    assert run_stack("prod-private-endpoint", private_stack(stack="dev")[:1]) == []


def test_stack_rules_do_not_stop_on_values_unknown_in_a_preview() -> None:
    account = resource(ACCOUNT, "openai", {"name": UNKNOWN_STRING_VALUE,
                                           "properties": {"publicNetworkAccess": "Disabled"}})
    endpoint = resource(policies.PRIVATE_ENDPOINT, "pe", {"privateLinkServiceConnections": UNKNOWN_ARRAY_VALUE},
                        account)
    group = resource(policies.DNS_ZONE_GROUP, "zg", {"privateEndpointName": UNKNOWN_STRING_VALUE}, endpoint)
    assert run_stack("prod-private-endpoint", [account, endpoint, group]) == []
    assert run_stack("prod-private-endpoint", [account, endpoint]) != []


def diagnostics_stack(**setting: Any) -> list[PolicyResource]:
    account = resource(ACCOUNT, "openai", PRIVATE)
    props = {"workspaceId": WORKSPACE_ID, "logs": ALL_LOGS, **setting}
    return [account, resource(policies.DIAGNOSTIC_SETTING, "diag", {k: v for k, v in props.items() if v is not ...},
                              account)]


def test_diagnostic_setting_with_the_required_logs_passes() -> None:
    assert run_stack("prod-diagnostic-settings", diagnostics_stack()) == []
    assert run_stack("prod-diagnostic-settings", diagnostics_stack(logs=[{"categoryGroup": "allLogs",
                                                                          "enabled": True}])) == []


@pytest.mark.parametrize(("setting", "lacks"), [
    ({"logs": ALL_LOGS[:2]}, "['Trace']"),
    ({"logs": [{**ALL_LOGS[0], "enabled": False}, *ALL_LOGS[1:]]}, "['Audit']"),
    ({"workspaceId": ...}, "['a destination']"),
], ids=["missing-category", "disabled-category", "no-destination"])
def test_incomplete_diagnostic_setting_fails(setting: dict[str, Any], lacks: str) -> None:
    [(urn, message)] = run_stack("prod-diagnostic-settings", diagnostics_stack(**setting))
    assert urn.endswith("::diag") and f"lacks {lacks}" in message


def test_account_without_diagnostic_setting_fails_and_categories_come_from_config() -> None:
    [(urn, message)] = run_stack("prod-diagnostic-settings", diagnostics_stack()[:1])
    assert urn.endswith("::openai") and "no diagnostic setting" in message and "diagnosticSettings true" in message
    config = {"requiredLogCategories": ["Audit"]}
    assert run_stack("prod-diagnostic-settings", diagnostics_stack(logs=ALL_LOGS[:1]), config) == []


def lock_stack(level: str) -> list[PolicyResource]:
    account = resource(ACCOUNT, "openai", PRIVATE)
    lock = resource("azure-native:authorization:ManagementLockByScope", "lock", {"level": level, "scope": ACCOUNT_ID})
    return [account, lock]


@pytest.mark.parametrize("level", ["CanNotDelete", "ReadOnly"])
def test_locked_account_passes(level: str) -> None:
    assert run_stack("prod-account-lock", lock_stack(level)) == []


def test_unlocked_account_fails_unless_the_config_waives_it() -> None:
    [(urn, message)] = run_stack("prod-account-lock", lock_stack("NotSpecified"))
    assert urn.endswith("::openai") and "pulumi config set aoai-finetune:lockAccount true" in message
    assert run_stack("prod-account-lock", lock_stack("CanNotDelete")[:1], {"requireLock": False}) == []
    assert run_stack("prod-account-lock", [resource(ACCOUNT, "openai", PRIVATE, stack="dev")]) == []


def test_bad_stack_policy_config_is_a_violation() -> None:
    [(urn, message)] = run_stack("prod-account-lock", lock_stack("CanNotDelete"), {"requireLocks": True})
    assert urn is None and "invalid policy config" in message and "requireLocks" in message

"""Guardrails for aoai-finetune stacks, run by `pulumi preview/up --policy-pack policy`.

Each rule is a plain function `check_*(props, config) -> list[str]` (one message per violation, empty when the
resource complies) so it can be tested without the CLI; `build_policies()` wraps them in pulumi_policy
`ResourceValidationPolicy` objects, all mandatory. Prod-only rules apply when the stack's name is listed in the
policy's `prodStacks` config (default `["prod"]`).

This pack runs in its own virtualenv made from `policy/requirements.txt`, so it imports nothing from the
project (no `pipeline`, no `infra`): only pulumi, pulumi_policy and pydantic.
"""
from __future__ import annotations

import ipaddress
from collections.abc import Callable, Mapping, Sequence
from typing import Any, Final

import pulumi
from pulumi_policy import (
    EnforcementLevel,
    PolicyConfigSchema,
    ReportViolation,
    ResourceValidationArgs,
    ResourceValidationPolicy,
)
from pydantic import BaseModel, ConfigDict, Field, ValidationError

ACCOUNT: Final = "azure-native:cognitiveservices:Account"
DEPLOYMENT: Final = "azure-native:cognitiveservices:Deployment"
ROLE_ASSIGNMENT: Final = "azure-native:authorization:RoleAssignment"

# Values of the ARM `principalType` enum (pulumi_azure_native.authorization.PrincipalType).
PRINCIPAL_TYPES: Final = frozenset(
    {"User", "Group", "ServicePrincipal", "ForeignGroup", "Device", "AgentUser", "AgentServicePrincipal"}
)
DEVELOPER_TIER: Final = "developertier"  # compared case-insensitively: docs samples write `developertier`
CONFIG_PREFIX: Final = "aoai-finetune"  # the stack's config namespace, quoted in fix-it hints


class GuardrailConfig(BaseModel):
    """Policy config, as given per policy in `--policy-pack-config` JSON (camelCase keys)."""

    model_config = ConfigDict(populate_by_name=True, extra="forbid", frozen=True)

    prod_stacks: list[str] = Field(
        default=["prod"],
        alias="prodStacks",
        description="Stack names the prod-only rules apply to.",
    )
    allowed_locations: list[str] = Field(
        default=["swedencentral", "northcentralus", "eastus2", "switzerlandwest"],
        alias="allowedLocations",
        description="Azure regions a prod account may live in (compared without case or spaces).",
    )
    allowed_account_skus: list[str] = Field(
        default=["S0"],
        alias="allowedAccountSkus",
        description="Cognitive Services account SKUs allowed in prod.",
    )
    allowed_deployment_skus: list[str] = Field(
        default=["Standard", "GlobalStandard"],
        alias="allowedDeploymentSkus",
        description="Model deployment SKUs allowed in prod (DeveloperTier is refused whatever this says).",
    )

    def is_prod(self, stack: str | None) -> bool:
        """Unknown stack name counts as prod: a guardrail should fail closed."""
        return stack is None or stack in self.prod_stacks

    @classmethod
    def schema_for(cls, *aliases: str) -> PolicyConfigSchema:
        """The JSON schema of some of these keys, with defaults, for one policy's `config_schema`."""
        properties = cls.model_json_schema(by_alias=True)["properties"]
        return PolicyConfigSchema(properties={alias: dict(properties[alias]) for alias in aliases})


# ---------------------------------------------------------------------------------------------------------
# Plain checks: Pulumi inputs in, violation messages out.
# ---------------------------------------------------------------------------------------------------------


def _get(props: Mapping[str, Any], *path: str) -> Any:
    """Nested lookup that treats a missing key or a non-mapping on the way as None."""
    value: Any = props
    for key in path:
        if not isinstance(value, Mapping) or key not in value:
            return None
        value = value[key]
    return value


def _norm(value: str) -> str:
    return value.replace(" ", "").lower()


def check_local_auth_disabled(props: Mapping[str, Any], config: GuardrailConfig) -> list[str]:
    """Prod accounts accept Entra ID tokens only: API keys can leak and cannot be scoped."""
    if _get(props, "properties", "disableLocalAuth") is True:
        return []
    return [
        "local (API key) auth is on: properties.disableLocalAuth must be true in prod. "
        f"Fix: `pulumi config set {CONFIG_PREFIX}:disableLocalAuth true` and use Entra ID (keyless) auth."
    ]


def _world_open_or_invalid(rules: Any) -> list[str]:
    problems = []
    for rule in rules if isinstance(rules, Sequence) and not isinstance(rules, str) else []:
        value = _get(rule, "value") if isinstance(rule, Mapping) else rule
        try:
            network = ipaddress.ip_network(str(value).strip(), strict=False)
        except ValueError:
            problems.append(f"networkAcls.ipRules entry {value!r} is not an IP address or CIDR range")
            continue
        if network.prefixlen == 0:
            problems.append(f"networkAcls.ipRules entry {value!r} lets in every address")
    return problems


def check_network_restricted(props: Mapping[str, Any], config: GuardrailConfig) -> list[str]:
    """Prod accounts are private, or public only to listed IP ranges (ARM default: public to everyone)."""
    public_access = _get(props, "properties", "publicNetworkAccess") or "Enabled"
    if str(public_access).lower() == "disabled":
        return []
    fix = (
        f"Fix: `pulumi config set {CONFIG_PREFIX}:publicNetworkAccess Disabled`, or list your ranges with "
        f"`pulumi config set --path '{CONFIG_PREFIX}:allowedIpRanges[0]' 203.0.113.0/24`."
    )
    default_action = _get(props, "properties", "networkAcls", "defaultAction")
    if str(default_action).lower() != "deny":
        return [
            f"public network access is {public_access} and networkAcls.defaultAction is "
            f"{default_action or 'not set (Allow)'}: prod needs publicNetworkAccess Disabled or "
            f"defaultAction Deny with ipRules. {fix}"
        ]
    rules = _get(props, "properties", "networkAcls", "ipRules")
    return [f"{problem}. {fix}" for problem in _world_open_or_invalid(rules)]


def check_location_allowed(props: Mapping[str, Any], config: GuardrailConfig) -> list[str]:
    """Data residency: prod accounts only in the regions the platform team approved."""
    location = _get(props, "location")
    allowed = sorted({_norm(loc) for loc in config.allowed_locations})
    if isinstance(location, str) and _norm(location) in allowed:
        return []
    shown = repr(location) if location else "not set"
    return [
        f"location {shown} is not in allowedLocations {allowed}. "
        f"Fix: `pulumi config set {CONFIG_PREFIX}:location <one of them>`, or extend allowedLocations "
        "in the policy pack config."
    ]


def check_account_sku_allowed(props: Mapping[str, Any], config: GuardrailConfig) -> list[str]:
    """Prod accounts use an approved SKU."""
    sku = _get(props, "sku", "name")
    allowed = {s.lower() for s in config.allowed_account_skus}
    if isinstance(sku, str) and sku.lower() in allowed:
        return []
    suggestion = config.allowed_account_skus[0] if config.allowed_account_skus else "S0"
    return [
        f"account sku {sku!r} is not in allowedAccountSkus {config.allowed_account_skus}. "
        f"Fix: `pulumi config set {CONFIG_PREFIX}:accountSku {suggestion}`."
    ]


def check_deployment_sku_allowed(props: Mapping[str, Any], config: GuardrailConfig) -> list[str]:
    """No DeveloperTier in prod (no SLA, Azure deletes it after 24 h); otherwise an approved SKU."""
    sku = _get(props, "sku", "name")
    fix = f"Fix: `pulumi config set {CONFIG_PREFIX}:deploymentSku Standard` (or GlobalStandard)."
    if isinstance(sku, str) and sku.lower() == DEVELOPER_TIER:
        return [f"deployment sku {sku!r} is for evaluation only (no SLA, removed after 24 h). {fix}"]
    allowed = {s.lower() for s in config.allowed_deployment_skus if s.lower() != DEVELOPER_TIER}
    if isinstance(sku, str) and sku.lower() in allowed:
        return []
    return [f"deployment sku {sku!r} is not in allowedDeploymentSkus {config.allowed_deployment_skus}. {fix}"]


def check_principal_type_explicit(props: Mapping[str, Any], config: GuardrailConfig) -> list[str]:
    """An explicit principalType avoids Entra replication-delay failures for newly created principals."""
    principal_type = _get(props, "principalType")
    if isinstance(principal_type, str) and principal_type in PRINCIPAL_TYPES:
        return []
    shown = repr(principal_type) if principal_type else "not set"
    return [
        f"principalType is {shown}: set it explicitly to one of {sorted(PRINCIPAL_TYPES)}. "
        f"Fix: `pulumi config set {CONFIG_PREFIX}:principalType ServicePrincipal` (or User/Group)."
    ]


def check_deployment_capacity_set(props: Mapping[str, Any], config: GuardrailConfig) -> list[str]:
    """Capacity (units of 1,000 TPM) set explicitly, so quota use and cost are a reviewed choice."""
    capacity = _get(props, "sku", "capacity")
    # Numbers cross the engine's gRPC boundary as doubles: 1 arrives as 1.0.
    is_number = isinstance(capacity, (int, float)) and not isinstance(capacity, bool)
    if is_number and capacity >= 1 and float(capacity).is_integer():
        return []
    shown = repr(capacity) if capacity is not None else "not set"
    return [
        f"sku.capacity is {shown}: set a whole number >= 1 (units of 1,000 tokens per minute). "
        f"Fix: `pulumi config set {CONFIG_PREFIX}:deploymentCapacity 1`."
    ]


# ---------------------------------------------------------------------------------------------------------
# pulumi_policy wiring.
# ---------------------------------------------------------------------------------------------------------

Check = Callable[[Mapping[str, Any], GuardrailConfig], list[str]]


def stack_name(args: ResourceValidationArgs) -> str | None:
    """The stack under preview/update, from the URN the engine sends with every resource
    (`urn:pulumi:<stack>::<project>::<type>::<name>`); `pulumi.get_stack()` as the fallback (set by
    pulumi_policy from PULUMI_STACK when the CLI runs the pack)."""
    parts = args.urn.split("::") if args.urn else []
    if parts and parts[0].startswith("urn:pulumi:") and len(parts[0]) > len("urn:pulumi:"):
        return parts[0][len("urn:pulumi:"):]
    return pulumi.get_stack() or None


def _validator(
    resource_type: str, check: Check, *, prod_only: bool
) -> Callable[[ResourceValidationArgs, ReportViolation], None]:
    """Adapt a plain check to pulumi_policy: filter by type and stack, parse config, report each message."""
    def validate(args: ResourceValidationArgs, report_violation: ReportViolation) -> None:
        if args.resource_type != resource_type:
            return
        try:
            config = GuardrailConfig.model_validate(dict(args.get_config()))
        except ValidationError as exc:
            problems = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors())
            report_violation(f"invalid policy config ({problems}). Fix the --policy-pack-config JSON.", args.urn)
            return
        if prod_only and not config.is_prod(stack_name(args)):
            return
        for message in check(args.props, config):
            report_violation(f"{args.name}: {message}", args.urn)

    return validate


_PROD = ("prodStacks",)

# name -> (resource type, check, prod only?, config keys, description)
RULES: Final[dict[str, tuple[str, Check, bool, tuple[str, ...], str]]] = {
    "prod-local-auth-disabled": (
        ACCOUNT, check_local_auth_disabled, True, _PROD,
        "Prod Azure OpenAI accounts must disable local (API key) auth.",
    ),
    "prod-network-restricted": (
        ACCOUNT, check_network_restricted, True, _PROD,
        "Prod Azure OpenAI accounts must disable public network access or deny by default with IP rules.",
    ),
    "prod-location-allowed": (
        ACCOUNT, check_location_allowed, True, (*_PROD, "allowedLocations"),
        "Prod Azure OpenAI accounts must be in an allowed location.",
    ),
    "prod-account-sku-allowed": (
        ACCOUNT, check_account_sku_allowed, True, (*_PROD, "allowedAccountSkus"),
        "Prod Azure OpenAI accounts must use an allowed SKU.",
    ),
    "prod-deployment-sku-allowed": (
        DEPLOYMENT, check_deployment_sku_allowed, True, (*_PROD, "allowedDeploymentSkus"),
        "Prod model deployments must use an allowed SKU, never DeveloperTier.",
    ),
    "role-assignment-principal-type": (
        ROLE_ASSIGNMENT, check_principal_type_explicit, False, (),
        "Role assignments must set principalType explicitly.",
    ),
    "deployment-capacity-set": (
        DEPLOYMENT, check_deployment_capacity_set, False, (),
        "Model deployments must set sku.capacity.",
    ),
}


def build_policies() -> list[ResourceValidationPolicy]:
    """Every guardrail as a mandatory ResourceValidationPolicy, in RULES order."""
    return [
        ResourceValidationPolicy(
            name=name,
            description=description,
            validate=_validator(resource_type, check, prod_only=prod_only),
            enforcement_level=EnforcementLevel.MANDATORY,
            config_schema=GuardrailConfig.schema_for(*keys) if keys else None,
        )
        for name, (resource_type, check, prod_only, keys, description) in RULES.items()
    ]

"""Guardrails for aoai-finetune stacks, run by `pulumi preview/up --policy-pack policy`.

Each rule is a plain function `check_*(props, config) -> list[str]` (one message per violation, empty when the
resource complies) so it can be tested without the CLI; `build_policies()` wraps them in pulumi_policy
`ResourceValidationPolicy` objects, all mandatory. Rules about how resources relate (a private account has a
private endpoint with DNS, diagnostic settings, a lock) look at the whole stack: `check_*(resources, config) ->
list[(resource, message)]`, wrapped in `StackValidationPolicy` objects (`STACK_RULES`), which the engine runs on
the stack's resources after `pulumi up` (a preview only reports that they could not run yet). Prod-only rules apply
when the stack's name is listed in the policy's `prodStacks` config (default `["prod"]`).

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
    PolicyResource,
    ReportViolation,
    ResourceValidationArgs,
    ResourceValidationPolicy,
    StackValidationArgs,
    StackValidationPolicy,
)
from pulumi_policy.proxy import UnknownValueError
from pydantic import BaseModel, ConfigDict, Field, ValidationError

ACCOUNT: Final = "azure-native:cognitiveservices:Account"
DEPLOYMENT: Final = "azure-native:cognitiveservices:Deployment"
ROLE_ASSIGNMENT: Final = "azure-native:authorization:RoleAssignment"
PRIVATE_ENDPOINT: Final = "azure-native:network:PrivateEndpoint"
DNS_ZONE_GROUP: Final = "azure-native:network:PrivateDnsZoneGroup"
PRIVATE_DNS_ZONE: Final = "azure-native:privatedns:PrivateZone"
WORKSPACE: Final = "azure-native:operationalinsights:Workspace"
DIAGNOSTIC_SETTING: Final = "azure-native:monitor:DiagnosticSetting"
LOCK_TYPES: Final = frozenset({
    "azure-native:authorization:ManagementLockByScope", "azure-native:authorization:ManagementLockAtResourceLevel",
})
TAGGED_TYPES: Final = (ACCOUNT, PRIVATE_ENDPOINT, PRIVATE_DNS_ZONE, WORKSPACE)
"""The stack's taggable resources that prod's required tags apply to."""

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

    required_tags: list[str] = Field(
        default=["env", "owner"],
        alias="requiredTags",
        description="Tag names every taggable prod resource must carry (the stack's `tags` config sets them).",
    )
    required_log_categories: list[str] = Field(
        default=["Audit", "RequestResponse", "Trace"],
        alias="requiredLogCategories",
        description="Log categories a prod account's diagnostic setting must send (or the allLogs category group).",
    )
    require_lock: bool = Field(
        default=True,
        alias="requireLock",
        description="Prod accounts must carry a CanNotDelete (or ReadOnly) lock.",
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


def check_required_tags(props: Mapping[str, Any], config: GuardrailConfig) -> list[str]:
    """Cost and ownership reporting: prod resources carry the tags the platform team requires."""
    tags = _get(props, "tags")
    present = set(tags) if isinstance(tags, Mapping) else set()
    missing = [name for name in config.required_tags if name not in present]
    if not missing:
        return []
    example = " ".join(f"'{CONFIG_PREFIX}:tags.{name}' <value>" for name in missing[:1])
    return [
        f"tags {missing} are missing (required: {config.required_tags}). "
        f"Fix: `pulumi config set --path {example}` for each (the stack puts its tags on every resource)."
    ]


# ---------------------------------------------------------------------------------------------------------
# Whole-stack checks: how the account, its private endpoint, diagnostics and lock relate.
# ---------------------------------------------------------------------------------------------------------

Finding = tuple[PolicyResource, str]


def _known(props: Mapping[str, Any], *path: str) -> Any:
    """`_get`, but a value still unknown (a preview) counts as missing instead of stopping the check."""
    try:
        return _get(props, *path)
    except UnknownValueError:
        return None


def _name_of(resource: PolicyResource) -> str | None:
    """The Azure name: `name` in the outputs, `<kind>Name` in the inputs."""
    for key in ("name", "accountName", "privateEndpointName"):
        name = _known(resource.props, key)
        if isinstance(name, str) and name:
            return name
    return None


def _refers_to(resource: PolicyResource, target: PolicyResource, ids: Sequence[Any], kind: str) -> bool:
    """Whether `resource` points at `target`: it depends on it, or one of `ids` is the target's ARM id
    (compared by its last segments, `/<kind>/<name>`, as the outputs may or may not carry the id)."""
    if any(dep.urn == target.urn for dep in resource.dependencies):
        return True
    if any(dep.urn == target.urn for deps in resource.property_dependencies.values() for dep in deps):
        return True
    name = _name_of(target)
    if name is None:
        return False
    suffix = f"/{kind}/{name}".lower()
    return any(isinstance(value, str) and value.lower().rstrip("/").endswith(suffix) for value in ids)


def _of_type(resources: Sequence[PolicyResource], *types: str) -> list[PolicyResource]:
    return [r for r in resources if r.resource_type in types]


def _endpoint_targets(endpoint: PolicyResource) -> list[Any]:
    connections = [*(_known(endpoint.props, "privateLinkServiceConnections") or []),
                   *(_known(endpoint.props, "manualPrivateLinkServiceConnections") or [])]
    return [_known(c, "privateLinkServiceId") for c in connections if isinstance(c, Mapping)]


def check_private_endpoint_when_private(resources: Sequence[PolicyResource], config: GuardrailConfig) -> list[Finding]:
    """An account with public access disabled is reachable only through a private endpoint, and only by name when
    the endpoint registers its IP in a private DNS zone (its DNS zone group)."""
    findings: list[Finding] = []
    fix = (f"Fix: `pulumi config set {CONFIG_PREFIX}:privateEndpointSubnetId <subnet ARM id>` (the stack then "
           "declares the private endpoint and its privatelink.openai.azure.com DNS zone group).")
    for account in _of_type(resources, ACCOUNT):
        if str(_known(account.props, "properties", "publicNetworkAccess") or "").lower() != "disabled":
            continue
        endpoints = [e for e in _of_type(resources, PRIVATE_ENDPOINT)
                     if _refers_to(e, account, _endpoint_targets(e), "accounts")]
        if not endpoints:
            findings.append((account, "public network access is Disabled but no private endpoint connects to the "
                                      f"account, so nothing can reach it. {fix}"))
            continue
        groups = _of_type(resources, DNS_ZONE_GROUP)
        if not any(_refers_to(g, e, [_zone_group_endpoint(g)], "privateEndpoints") for e in endpoints for g in groups):
            findings.append((endpoints[0], "the account's private endpoint has no private DNS zone group, so its "
                                           "hostname still resolves to the public address, which refuses every call. "
                                           f"{fix}"))
    return findings


def _zone_group_endpoint(group: PolicyResource) -> str | None:
    """A zone group names its endpoint (privateEndpointName) rather than giving its id: made an id suffix."""
    name = _known(group.props, "privateEndpointName")
    return f"/privateEndpoints/{name}" if isinstance(name, str) else None


def check_diagnostic_settings(resources: Sequence[PolicyResource], config: GuardrailConfig) -> list[Finding]:
    """Who called what: each account sends the required log categories somewhere a team can query."""
    findings: list[Finding] = []
    required = list(config.required_log_categories)
    fix = f"Fix: `pulumi config set {CONFIG_PREFIX}:diagnosticSettings true` (and logAnalyticsWorkspaceId)."
    for account in _of_type(resources, ACCOUNT):
        settings = [d for d in _of_type(resources, DIAGNOSTIC_SETTING)
                    if _refers_to(d, account, [_known(d.props, "resourceUri")], "accounts")]
        if not settings:
            findings.append((account, f"the account has no diagnostic setting: its request and audit logs are kept "
                                      f"nowhere. {fix}"))
            continue
        gaps = [_diagnostic_gaps(setting, required) for setting in settings]
        if all(gaps):
            fewest = min(gaps, key=len)
            findings.append((settings[gaps.index(fewest)], f"the account's diagnostic setting lacks {fewest} "
                                                           f"(required log categories: {required}). {fix}"))
    return findings


def _diagnostic_gaps(setting: PolicyResource, required: Sequence[str]) -> list[str]:
    """What one diagnostic setting lacks: required categories it does not send enabled, and a destination."""
    destination = any(_known(setting.props, key) for key in (
        "workspaceId", "storageAccountId", "eventHubAuthorizationRuleId", "marketplacePartnerId"))
    logs = [log for log in _known(setting.props, "logs") or []
            if isinstance(log, Mapping) and _known(log, "enabled") is True]
    if any(str(_known(log, "categoryGroup") or "").lower() == "alllogs" for log in logs):
        sent = set(required)
    else:
        sent = {str(_known(log, "category")) for log in logs}
    return [category for category in required if category not in sent] + ([] if destination else ["a destination"])


def check_account_locked(resources: Sequence[PolicyResource], config: GuardrailConfig) -> list[Finding]:
    """A prod account is protected against deletion (portal, CLI, or a stray `pulumi destroy`) by a lock."""
    if not config.require_lock:
        return []
    findings: list[Finding] = []
    for account in _of_type(resources, ACCOUNT):
        locks = [lock for lock in _of_type(resources, *LOCK_TYPES)
                 if _refers_to(lock, account, [_known(lock.props, "scope")], "accounts")]
        levels = {str(_known(lock.props, "level") or "") for lock in locks}
        if not levels & {"CanNotDelete", "ReadOnly"}:
            findings.append((account, "the account has no CanNotDelete lock. "
                                      f"Fix: `pulumi config set {CONFIG_PREFIX}:lockAccount true` (or set "
                                      "requireLock false for this stack in the policy pack config)."))
    return findings


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


def _parsed_config(raw: Mapping[str, Any], report_violation: ReportViolation,
                   urn: str | None) -> GuardrailConfig | None:
    """The policy's config, or None after reporting what is wrong with it."""
    try:
        return GuardrailConfig.model_validate(dict(raw))
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors())
        report_violation(f"invalid policy config ({problems}). Fix the --policy-pack-config JSON.", urn)
        return None


def _validator(
    resource_type: str | tuple[str, ...], check: Check, *, prod_only: bool
) -> Callable[[ResourceValidationArgs, ReportViolation], None]:
    """Adapt a plain check to pulumi_policy: filter by type and stack, parse config, report each message."""
    types = (resource_type,) if isinstance(resource_type, str) else resource_type

    def validate(args: ResourceValidationArgs, report_violation: ReportViolation) -> None:
        if args.resource_type not in types:
            return
        config = _parsed_config(args.get_config(), report_violation, args.urn)
        if config is None:
            return
        if prod_only and not config.is_prod(stack_name(args)):
            return
        for message in check(args.props, config):
            report_violation(f"{args.name}: {message}", args.urn)

    return validate


StackCheck = Callable[[Sequence[PolicyResource], GuardrailConfig], list[Finding]]


def _stack_of(resources: Sequence[PolicyResource]) -> str | None:
    """The stack's name, from the first resource URN (`urn:pulumi:<stack>::...`)."""
    for resource in resources:
        head = resource.urn.split("::", 1)[0] if resource.urn else ""
        if head.startswith("urn:pulumi:") and len(head) > len("urn:pulumi:"):
            return head[len("urn:pulumi:"):]
    return pulumi.get_stack() or None


def _stack_validator(check: StackCheck) -> Callable[[StackValidationArgs, ReportViolation], None]:
    """Adapt a whole-stack check: prod stacks only, parse config, report each finding on its resource."""
    def validate(args: StackValidationArgs, report_violation: ReportViolation) -> None:
        config = _parsed_config(args.get_config(), report_violation, None)
        if config is None or not config.is_prod(_stack_of(args.resources)):
            return
        for resource, message in check(args.resources, config):
            report_violation(f"{resource.name}: {message}", resource.urn)

    return validate


_PROD = ("prodStacks",)

# name -> (resource type(s), check, prod only?, config keys, description)
RULES: Final[dict[str, tuple[str | tuple[str, ...], Check, bool, tuple[str, ...], str]]] = {
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
    "prod-required-tags": (
        TAGGED_TYPES, check_required_tags, True, (*_PROD, "requiredTags"),
        "Prod accounts, private endpoints, DNS zones and workspaces must carry the required tags.",
    ),
}

# name -> (check, config keys, description); all prod-only
STACK_RULES: Final[dict[str, tuple[StackCheck, tuple[str, ...], str]]] = {
    "prod-private-endpoint": (
        check_private_endpoint_when_private, _PROD,
        "Prod accounts with public network access disabled must have a private endpoint with a private DNS zone group.",
    ),
    "prod-diagnostic-settings": (
        check_diagnostic_settings, (*_PROD, "requiredLogCategories"),
        "Prod accounts must send their logs (Audit, RequestResponse, Trace) to Log Analytics.",
    ),
    "prod-account-lock": (
        check_account_locked, (*_PROD, "requireLock"),
        "Prod accounts must carry a CanNotDelete lock where the policy config requires one.",
    ),
}


def build_policies() -> list[ResourceValidationPolicy | StackValidationPolicy]:
    """Every guardrail, mandatory: the ResourceValidationPolicy objects in RULES order, then the
    StackValidationPolicy objects in STACK_RULES order."""
    resource_policies: list[ResourceValidationPolicy | StackValidationPolicy] = [
        ResourceValidationPolicy(
            name=name,
            description=description,
            validate=_validator(resource_type, check, prod_only=prod_only),
            enforcement_level=EnforcementLevel.MANDATORY,
            config_schema=GuardrailConfig.schema_for(*keys) if keys else None,
        )
        for name, (resource_type, check, prod_only, keys, description) in RULES.items()
    ]
    stack_policies = [
        StackValidationPolicy(
            name=name,
            description=description,
            validate=_stack_validator(check),
            enforcement_level=EnforcementLevel.MANDATORY,
            config_schema=GuardrailConfig.schema_for(*keys),
        )
        for name, (check, keys, description) in STACK_RULES.items()
    ]
    return resource_policies + stack_policies

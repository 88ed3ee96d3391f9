"""Every config key of the project, read once into one validated object before the first resource.

`Pulumi.yaml` declares the keys (type, default, description); `StackSettings` repeats the defaults and adds the
rules Pulumi cannot express, so a wrong value stops the program with a message that names the key. Two entry
points: `StackSettings.from_pulumi_config()` under `pulumi up`, and the pure `StackSettings.model_validate(dict)`
for tests and tools (camelCase keys as in `pulumi config`, or the snake_case field names).
"""
from __future__ import annotations

import ipaddress
import json
import re
from pathlib import Path
from typing import Any, Final, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator
from pydantic.alias_generators import to_camel

from pipeline.connection import ACCOUNT_ID_PATTERN
from pipeline.errors import UsageError
from pipeline.jobs import BEST_VALIDATION_LOSS, FINAL, parse_checkpoint_choice
from pipeline.promotion import FULL_STACK_PATTERN
from pipeline.training_settings import (
    DEFAULT_MODEL, BatchSize, Beta, Epochs, LearningRateMultiplier, Seed, Suffix, TrainingMethod, TrainingSettings,
)
from pipeline.evals.criteria import DEFAULT_CRITERIA
from pipeline.evals.gate import DEFAULT_MIN_IMPROVEMENT, EvalFigures, QualityBar

PROJECT_NAME: Final = "aoai-finetune"
"""Pulumi project name = config namespace (`aoai-finetune:<key>`); must match `name:` in Pulumi.yaml."""

PROJECT_ROOT: Final = Path(__file__).resolve().parent.parent
"""The folder holding Pulumi.yaml; dataset paths in config are relative to it."""

_GUID = r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}"
_RESOURCE_GROUP_RE = re.compile(r"^[-\w._()]{1,90}$")
_OPTIONAL_VALUES = (
    "n_epochs", "batch_size", "learning_rate_multiplier", "seed", "suffix", "max_training_cost_usd", "beta",
    "deployment_ttl_hours",
    "min_eval_pass_rate", "min_improvement_over_base", "source_eval_pass_rate", "source_eval_base_pass_rate",
)
_ARM_PREFIX = rf"^/subscriptions/{_GUID}/resourceGroups/[-\w._()]{{1,90}}/providers/"
PRIVATE_DNS_ZONE: Final = "privatelink.openai.azure.com"
"""The private DNS zone Azure OpenAI's private endpoints register in (Azure's recommended zone name)."""
SUBNET_ID_PATTERN: Final = re.compile(
    _ARM_PREFIX + r"Microsoft\.Network/virtualNetworks/[-\w.]{2,64}/subnets/[-\w.]{1,80}$", re.IGNORECASE)
PRIVATE_DNS_ZONE_ID_PATTERN: Final = re.compile(
    _ARM_PREFIX + r"Microsoft\.Network/privateDnsZones/" + re.escape(PRIVATE_DNS_ZONE) + "$", re.IGNORECASE)
WORKSPACE_ID_PATTERN: Final = re.compile(
    _ARM_PREFIX + r"Microsoft\.OperationalInsights/workspaces/[A-Za-z0-9][-A-Za-z0-9]{2,62}$", re.IGNORECASE)
USER_ASSIGNED_IDENTITY_ID_PATTERN: Final = re.compile(
    _ARM_PREFIX + r"Microsoft\.ManagedIdentity/userAssignedIdentities/[A-Za-z0-9][-\w]{2,127}$", re.IGNORECASE)
KEY_URI_PATTERN: Final = re.compile(
    r"^https://(?P<vault>[A-Za-z0-9-]{3,24})\.(?P<domain>vault\.azure\.net|managedhsm\.azure\.net)/keys/"
    r"(?P<name>[A-Za-z0-9-]{1,127})(?:/(?P<version>[A-Za-z0-9]{32}))?/?$")
STRUCTURED_KEYS: Final = frozenset({"tags", "allowedIpRanges"})
"""Keys whose config value is JSON (object/array) rather than a plain string."""


class StackConfigError(UsageError):
    """A stack config value is wrong; the message names every bad key."""


class StackSettings(BaseModel):
    """The whole project's configuration, validated."""

    model_config = ConfigDict(
        alias_generator=to_camel, populate_by_name=True, extra="forbid", frozen=True, str_strip_whitespace=True
    )

    # --- account ---
    location: str = "northcentralus"
    name_prefix: str = Field("aoai-ft", pattern=r"^[a-z][a-z0-9-]{0,38}[a-z0-9]$")
    account_sku: Literal["S0"] = "S0"
    resource_group_name: str = ""
    principal_id: str = ""
    principal_type: Literal["", "User", "Group", "ServicePrincipal"] = ""  # "" = the runner's own type
    disable_local_auth: bool = False
    public_network_access: Literal["Enabled", "Disabled"] = "Enabled"
    allowed_ip_ranges: tuple[str, ...] = ()
    tags: dict[str, str] = Field(default_factory=dict)
    purge_on_destroy: bool = True
    # --- production controls (all off by default: the dev lab's flow is unchanged) ---
    private_endpoint_subnet_id: str = ""
    private_dns_zone_id: str = ""
    diagnostic_settings: bool = False
    log_analytics_workspace_id: str = ""
    managed_identity: Literal["None", "SystemAssigned", "UserAssigned", "SystemAssigned,UserAssigned"] = "None"
    user_assigned_identity_id: str = ""
    customer_managed_key_uri: str = ""
    lock_account: bool = False
    # --- fine-tuning ---
    training_file: str = Field("datasets/training_set.jsonl", min_length=1)
    validation_file: str = "datasets/validation_set.jsonl"
    base_model: str = Field(DEFAULT_MODEL, min_length=1)
    suffix: Suffix | None = None
    n_epochs: Epochs | None = None
    batch_size: BatchSize | None = None
    learning_rate_multiplier: LearningRateMultiplier | None = None
    seed: Seed | None = None
    training_method: TrainingMethod = "supervised"
    beta: Beta | None = None
    continue_from_stack: str = ""
    training_timeout_minutes: int = Field(720, ge=1)
    max_training_cost_usd: float | None = Field(None, gt=0)
    prices_file: str = ""
    # --- deployment ---
    deployment_name: str = Field("", pattern=r"^([A-Za-z0-9][A-Za-z0-9._-]{1,63})?$")
    deployment_sku: Literal["Standard", "GlobalStandard", "DeveloperTier"] = "Standard"
    deployment_capacity: int = Field(1, ge=1)
    smoke_test: bool = True
    deployment_ttl_hours: int | None = Field(None, ge=1)
    deploy_checkpoint: str = FINAL
    # --- promotion ---
    mode: Literal["train", "promote"] = "train"
    source_stack: str = ""
    source_model: str = ""
    source_account_id: str = ""
    source_eval_pass_rate: float | None = Field(None, ge=0, le=1)
    source_eval_base_pass_rate: float | None = Field(None, ge=0, le=1)
    source_eval_run_id: str = ""
    # --- evaluation: the quality gate ---
    eval_criteria: str = DEFAULT_CRITERIA
    min_eval_pass_rate: float | None = Field(None, ge=0, le=1)
    min_improvement_over_base: float | None = Field(DEFAULT_MIN_IMPROVEMENT, ge=-1, le=1)

    # ----- field rules -----
    @field_validator("location", mode="before")
    @classmethod
    def _normalize_location(cls, value: Any) -> Any:
        """Accept the portal's display name ("North Central US") as well as the ARM name."""
        return re.sub(r"\s+", "", value).lower() if isinstance(value, str) else value

    @field_validator("location")
    @classmethod
    def _check_location(cls, value: str) -> str:
        if not re.fullmatch(r"[a-z][a-z0-9]{2,40}", value):
            raise ValueError("must be an Azure region name such as northcentralus or swedencentral")
        return value

    @field_validator(*_OPTIONAL_VALUES, mode="before")
    @classmethod
    def _empty_is_unset(cls, value: Any) -> Any:
        """Pulumi.yaml declares optional numbers (and the suffix) as strings defaulting to "" (= not set)."""
        return None if isinstance(value, str) and not value.strip() else value

    @field_validator("continue_from_stack")
    @classmethod
    def _check_continue_from(cls, value: str) -> str:
        if value and not FULL_STACK_PATTERN.match(value):
            raise ValueError("must be a stack reference org/project/stack")
        return value

    @field_validator("resource_group_name")
    @classmethod
    def _check_resource_group(cls, value: str) -> str:
        if value and (not _RESOURCE_GROUP_RE.match(value) or value.endswith(".")):
            raise ValueError("must be 1-90 letters, digits, '_', '-', '.', '(' or ')' and not end with '.'")
        return value

    @field_validator("principal_id")
    @classmethod
    def _check_principal(cls, value: str) -> str:
        if value and not re.fullmatch(_GUID, value):
            raise ValueError("must be an object id (GUID), or empty for the identity running pulumi")
        return value.lower()

    @field_validator("allowed_ip_ranges", mode="before")
    @classmethod
    def _split_ranges(cls, value: Any) -> Any:
        if isinstance(value, str):  # tolerate "1.2.3.4, 5.6.7.0/24" typed on the command line
            return tuple(part.strip() for part in value.split(",") if part.strip())
        return value

    @field_validator("allowed_ip_ranges")
    @classmethod
    def _check_ranges(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        for item in value:
            try:
                ipaddress.IPv4Network(item, strict=False)
            except ValueError:
                raise ValueError(f"{item!r} is not an IPv4 address or CIDR range such as 203.0.113.0/24") from None
        return value

    @field_validator("tags")
    @classmethod
    def _check_tags(cls, value: dict[str, str]) -> dict[str, str]:
        for key, tag in value.items():
            if not key or len(key) > 512 or len(tag) > 256 or re.search(r"[<>%&\\?/]", key):
                raise ValueError(f"tag {key!r}: names are 1-512 chars without <>%&\\?/ and values <= 256 chars")
        return value

    @field_validator("eval_criteria")
    @classmethod
    def _check_criteria(cls, value: str) -> str:
        from pipeline.evals.criteria import parse_criteria

        try:
            parse_criteria(value)
        except UsageError as exc:
            raise ValueError(f"{exc.message} ({exc.hint})") from None
        return value

    @field_validator("deploy_checkpoint", mode="before")
    @classmethod
    def _check_checkpoint(cls, value: Any) -> str:
        """Pulumi hands every value over as a string; a step is kept as its digits ("300")."""
        return str(parse_checkpoint_choice(value))

    @field_validator("source_stack")
    @classmethod
    def _check_source_stack(cls, value: str) -> str:
        if value and not FULL_STACK_PATTERN.match(value):
            raise ValueError("must be a stack reference org/project/stack")
        return value

    @field_validator("source_account_id")
    @classmethod
    def _check_account_id(cls, value: str) -> str:
        if value and not ACCOUNT_ID_PATTERN.match(value):
            raise ValueError(
                "must be an ARM account id /subscriptions/<guid>/resourceGroups/<rg>/providers/"
                "Microsoft.CognitiveServices/accounts/<name>"
            )
        return value

    @field_validator("private_endpoint_subnet_id")
    @classmethod
    def _check_subnet(cls, value: str) -> str:
        if value and not SUBNET_ID_PATTERN.match(value):
            raise ValueError("must be a subnet's ARM id /subscriptions/<guid>/resourceGroups/<rg>/providers/"
                             "Microsoft.Network/virtualNetworks/<vnet>/subnets/<subnet>")
        return value

    @field_validator("private_dns_zone_id")
    @classmethod
    def _check_dns_zone(cls, value: str) -> str:
        if value and not PRIVATE_DNS_ZONE_ID_PATTERN.match(value):
            raise ValueError(f"must be the ARM id of a {PRIVATE_DNS_ZONE} zone /subscriptions/<guid>/resourceGroups/"
                             f"<rg>/providers/Microsoft.Network/privateDnsZones/{PRIVATE_DNS_ZONE}")
        return value

    @field_validator("log_analytics_workspace_id")
    @classmethod
    def _check_workspace(cls, value: str) -> str:
        if value and not WORKSPACE_ID_PATTERN.match(value):
            raise ValueError("must be a Log Analytics workspace's ARM id /subscriptions/<guid>/resourceGroups/<rg>/"
                             "providers/Microsoft.OperationalInsights/workspaces/<name>")
        return value

    @field_validator("user_assigned_identity_id")
    @classmethod
    def _check_identity(cls, value: str) -> str:
        if value and not USER_ASSIGNED_IDENTITY_ID_PATTERN.match(value):
            raise ValueError("must be a user-assigned identity's ARM id /subscriptions/<guid>/resourceGroups/<rg>/"
                             "providers/Microsoft.ManagedIdentity/userAssignedIdentities/<name>")
        return value

    @field_validator("customer_managed_key_uri")
    @classmethod
    def _check_key_uri(cls, value: str) -> str:
        if value and not KEY_URI_PATTERN.match(value):
            raise ValueError("must be a Key Vault key URI https://<vault>.vault.azure.net/keys/<key>[/<version>] "
                             "(`az keyvault key show --vault-name <vault> -n <key> --query key.kid`)")
        return value

    @model_validator(mode="after")
    def _check_combinations(self) -> StackSettings:
        if self.allowed_ip_ranges and self.public_network_access == "Disabled":
            raise ValueError(
                "allowedIpRanges is set but publicNetworkAccess is Disabled: IP rules only apply to public access; "
                "clear allowedIpRanges or set publicNetworkAccess Enabled"
            )
        self._check_production_controls()
        if bool(self.source_model) != bool(self.source_account_id):
            raise ValueError("sourceModel and sourceAccountId go together: set both or neither")
        if self.source_eval_base_pass_rate is not None and self.source_eval_pass_rate is None:
            raise ValueError("sourceEvalBasePassRate is set without sourceEvalPassRate")
        if self.mode == "promote" and not (self.source_stack or self.source_model):
            raise ValueError("mode promote needs a source: sourceStack, or both sourceModel and sourceAccountId "
                             "(`aoai-ft promote --from dev --to <this stack> --apply` sets them)")
        if self.deploy_checkpoint != FINAL and self.mode == "promote":
            raise ValueError(f"deployCheckpoint is {self.deploy_checkpoint}, but a promote-mode stack deploys the "
                             "model its source names; choose the checkpoint on the stack that trains it "
                             f"(pulumi config rm {PROJECT_NAME}:deployCheckpoint here)")
        if self.deploy_checkpoint == BEST_VALIDATION_LOSS and not self.validation_file:
            raise ValueError("deployCheckpoint is best-validation-loss, but validationFile is empty: without a "
                             "validation file Azure reports no validation loss; set validationFile, or "
                             "deployCheckpoint final or a step")
        if self.beta is not None and self.training_method != "dpo":
            raise ValueError(f"beta is set but trainingMethod is {self.training_method}: beta is a DPO setting "
                             f"(pulumi config set {PROJECT_NAME}:trainingMethod dpo, or rm beta)")
        if self.continue_from_stack and self.mode == "promote":
            raise ValueError("continueFromStack trains on top of another stack's model, but mode is promote, which "
                             "trains nothing; clear one of them")
        if self.continue_from_stack and is_fine_tuned_id(self.base_model):
            raise ValueError("continueFromStack and a fine-tuned baseModel both name the model to continue from; "
                             "set baseModel to its base model (e.g. gpt-4.1-mini-2025-04-14)")
        if self.mode == "promote" and not self.smoke_test:
            raise ValueError(f"smokeTest is false, but a promoted deployment must pass the smoke test before the stack "
                             f"reports success (pulumi config set {PROJECT_NAME}:smokeTest true)")
        return self

    def _check_production_controls(self) -> None:
        """Combinations of the private-network, diagnostics, identity and key settings that cannot work."""
        if self.public_network_access == "Disabled" and not self.private_endpoint_subnet_id:
            raise ValueError(
                "publicNetworkAccess is Disabled and no private endpoint is configured, so nothing could reach the "
                "account (not the stack's own training and smoke test, not your applications); set "
                f"privateEndpointSubnetId to the ARM id of the subnet the account's private endpoint goes in "
                f"(pulumi config set {PROJECT_NAME}:privateEndpointSubnetId /subscriptions/<guid>/resourceGroups/<rg>/"
                "providers/Microsoft.Network/virtualNetworks/<vnet>/subnets/<subnet>), or set publicNetworkAccess "
                "Enabled with allowedIpRanges")
        if self.private_dns_zone_id and not self.private_endpoint_subnet_id:
            raise ValueError("privateDnsZoneId is set without privateEndpointSubnetId: the zone only serves a private "
                             "endpoint; set privateEndpointSubnetId too, or clear privateDnsZoneId")
        if self.log_analytics_workspace_id and not self.diagnostic_settings:
            raise ValueError("logAnalyticsWorkspaceId is set but diagnosticSettings is false, so nothing would be sent "
                             f"there (pulumi config set {PROJECT_NAME}:diagnosticSettings true)")
        uses_user_identity = "UserAssigned" in self.managed_identity
        if uses_user_identity != bool(self.user_assigned_identity_id):
            raise ValueError(
                f"managedIdentity {self.managed_identity} and userAssignedIdentityId go together: a user-assigned "
                "identity needs its ARM id, and the id needs managedIdentity UserAssigned (or "
                "SystemAssigned,UserAssigned)")
        if self.customer_managed_key_uri and not uses_user_identity:
            raise ValueError(
                "customerManagedKeyUri needs a user-assigned identity that can already use the key (Key Vault Crypto "
                "Service Encryption User on it): a system-assigned identity does not exist before the account does, "
                f"so it cannot be granted the key in time; set {PROJECT_NAME}:managedIdentity UserAssigned and "
                "userAssignedIdentityId")

    # ----- derived values the program and later steps use -----
    @property
    def project_root(self) -> Path:
        return PROJECT_ROOT

    @property
    def creates_resource_group(self) -> bool:
        return not self.resource_group_name

    @property
    def base_model_family(self) -> str:
        """The base model under baseModel: itself, or the base of a fine-tuned model this stack continues from."""
        from pipeline.dataset.models import base_model

        return base_model(self.base_model)

    @property
    def private_endpoint(self) -> bool:
        """A private endpoint (and its DNS) is declared for the account."""
        return bool(self.private_endpoint_subnet_id)

    @property
    def virtual_network_id(self) -> str:
        """The VNet holding privateEndpointSubnetId (the private DNS zone is linked to it)."""
        return self.private_endpoint_subnet_id.rsplit("/subnets/", 1)[0]

    @property
    def effective_deployment_name(self) -> str:
        """The lab's convention: `<baseModel>-ft` unless deploymentName is set (the base model's name when
        baseModel is a fine-tuned model, whose id would not fit a deployment name)."""
        return self.deployment_name or f"{self.base_model_family}-ft"

    @property
    def training_path(self) -> Path:
        return self.resolve_path(self.training_file)

    @property
    def validation_path(self) -> Path | None:
        return self.resolve_path(self.validation_file) if self.validation_file else None

    @property
    def prices_path(self) -> Path | None:
        return self.resolve_path(self.prices_file) if self.prices_file else None

    def resolve_path(self, value: str) -> Path:
        """A config path, relative to the project root unless absolute."""
        path = Path(value).expanduser()
        return path if path.is_absolute() else (PROJECT_ROOT / path).resolve()

    @property
    def checkpoint_choice(self) -> str | int:
        """deployCheckpoint as `pipeline.jobs.choose_checkpoint` takes it: final, best-validation-loss or a step."""
        return parse_checkpoint_choice(self.deploy_checkpoint)

    @property
    def eval_testing_criteria(self) -> list[dict[str, Any]]:
        """`evalCriteria` in the Evals API's shape."""
        from pipeline.evals.criteria import parse_criteria

        return parse_criteria(self.eval_criteria)

    @property
    def quality_bar(self) -> QualityBar:
        """minEvalPassRate / minImprovementOverBase (empty = that bar is off)."""
        return QualityBar(min_pass_rate=self.min_eval_pass_rate, min_improvement=self.min_improvement_over_base)

    @property
    def pinned_eval_figures(self) -> EvalFigures | None:
        """The source's figures `aoai-ft promote` pinned in config, or None."""
        if self.source_eval_pass_rate is None:
            return None
        return EvalFigures(pass_rate=self.source_eval_pass_rate, base_pass_rate=self.source_eval_base_pass_rate,
                           run_id=self.source_eval_run_id or None)

    @property
    def base_deployment_name(self) -> str:
        """The base model's deployment the evaluation compares with."""
        return f"{self.base_model}-base"[:64]

    @property
    def training(self) -> TrainingSettings:
        """The training settings these config keys make (the rules live in `pipeline.training_settings`)."""
        return TrainingSettings(model=self.base_model, n_epochs=self.n_epochs, batch_size=self.batch_size,
                                learning_rate_multiplier=self.learning_rate_multiplier, suffix=self.suffix,
                                seed=self.seed, method=self.training_method, beta=self.beta)

    # ----- construction -----
    @classmethod
    def from_mapping(cls, values: dict[str, Any]) -> StackSettings:
        """`model_validate`, but a bad value becomes a `StackConfigError` naming each key."""
        try:
            return cls.model_validate(values)
        except ValidationError as exc:
            raise _config_error(exc, values) from None

    @classmethod
    def from_pulumi_config(cls, namespace: str = PROJECT_NAME) -> StackSettings:
        """Read every declared key from the running stack's config (defaults come from Pulumi.yaml)."""
        import pulumi

        config = pulumi.Config(namespace)
        raw: dict[str, Any] = {}
        for name, field in cls.model_fields.items():
            key = field.alias or name
            text = config.get(key)
            if text is None:
                continue
            if key in STRUCTURED_KEYS:
                try:
                    raw[key] = json.loads(text)
                except json.JSONDecodeError:
                    if key == "allowedIpRanges":  # `pulumi config set allowedIpRanges 1.2.3.4` stores a string
                        raw[key] = text
                        continue
                    raise StackConfigError(
                        f"{namespace}:{key}: not valid JSON ({text!r})",
                        hint=f"pulumi config set --path {namespace}:{key}.<name> <value>",
                    ) from None
            else:
                raw[key] = text
        return cls.from_mapping(raw)


def is_fine_tuned_id(model: str) -> bool:
    from pipeline.dataset.models import FINE_TUNED_MARK

    return FINE_TUNED_MARK in model


def _config_error(exc: ValidationError, values: dict[str, Any]) -> StackConfigError:
    lines = []
    first_key = None
    for error in exc.errors():
        key = ".".join(str(part) for part in error["loc"]) if error["loc"] else ""
        message = error["msg"].removeprefix("Value error, ")
        if key:
            first_key = first_key or key
            got = values.get(key, values.get(str(error["loc"][0]), error.get("input")))
            shown = repr(got) if len(repr(got)) <= 80 else repr(got)[:77] + "..."
            lines.append(f"{PROJECT_NAME}:{key}: {message} (got {shown})")
        else:
            lines.append(message)
    hint = (
        f"pulumi config set {PROJECT_NAME}:{first_key} <value>   (every key is described in Pulumi.yaml)"
        if first_key
        else "check the keys named above with `pulumi config`"
    )
    return StackConfigError("invalid stack configuration:\n  " + "\n  ".join(lines), hint=hint)

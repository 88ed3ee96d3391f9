"""The stack's resources, as functions the entry point (and later steps) compose.

`build_stack(settings)` declares the resource group (unless an existing one is configured), the `OpenAIAccount`
component and, when configured, its production controls (`PrivateAccess`: private endpoint + DNS;
`AccountDiagnostics`: logs and metrics to Log Analytics; identity, key and lock belong to the account itself), and
returns a `StackParts` whose `outputs` the entry point exports. A later step adds its own resources by calling
another function with the same settings and parts, e.g. `build_fine_tuning(settings, parts)`, and merging its
outputs into `parts.outputs`.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import os

import pulumi
from pulumi_azure_native import authorization, resources

from infra import naming
from infra.account import OpenAIAccount, OpenAIAccountArgs
from infra.diagnostics import AccountDiagnostics, AccountDiagnosticsArgs
from infra.identity import RunnerType, resolve_principal_type, runner_grant, runner_role_grants, runner_type
from infra.networking import PrivateAccess, PrivateAccessArgs
from infra.settings import StackSettings
from pipeline import envnames


@dataclass(frozen=True)
class ClientIdentity:
    """Who runs `pulumi up` (from the azure-native provider's `getClientConfig`)."""

    subscription_id: str
    tenant_id: str
    object_id: str
    client_id: str


@dataclass
class StackParts:
    """What `build_stack` made; later steps read it and add to `outputs`."""

    settings: StackSettings
    identity: ClientIdentity
    principal_id: str
    resource_group_name: pulumi.Output[str]
    resource_group: resources.ResourceGroup | None
    account: OpenAIAccount
    account_id: str
    """The account's ARM id as a plain string: known in every preview, so resources that belong to the account
    (a fine-tuned model) can tell from their inputs alone when the account is a different one."""
    outputs: dict[str, Any] = field(default_factory=dict)
    private_access: PrivateAccess | None = None
    diagnostics: AccountDiagnostics | None = None


def client_identity() -> ClientIdentity:
    """Subscription/tenant/object id of the running identity, as plain strings (names are derived from them)."""
    config = authorization.get_client_config()
    return ClientIdentity(
        subscription_id=config.subscription_id,
        tenant_id=config.tenant_id,
        object_id=config.object_id,
        client_id=config.client_id,
    )


def runner_of(identity: ClientIdentity) -> RunnerType:
    """The runner's principal type from the azure-native provider's sign-in settings and getClientConfig."""
    provider = pulumi.Config("azure-native")
    provider_config = {key: provider.get(key) or "" for key in ("useDefaultAzureCredential", "clientCertificatePath",
                                                                "clientSecret", "useOidc", "useMsi")}
    return runner_type(identity.client_id, os.environ, provider_config)


def check_principal(settings: StackSettings, identity: ClientIdentity) -> str:
    """The principalType the role assignments send; a StackConfigError before any resource when it is wrong."""
    return resolve_principal_type(settings, runner_of(identity))


def build_stack(settings: StackSettings, identity: ClientIdentity | None = None) -> StackParts:
    """Resource group (unless existing) + OpenAI account with its roles; returns the parts and stack outputs."""
    identity = identity or client_identity()
    runner = runner_of(identity)
    principal_type = resolve_principal_type(settings, runner)  # before the first resource
    stack = pulumi.get_stack()

    if settings.creates_resource_group:
        group_name = naming.resource_group_name(settings.name_prefix, stack)
        group: resources.ResourceGroup | None = resources.ResourceGroup(
            "resource-group",
            resource_group_name=group_name,
            location=settings.location,
            tags=settings.tags,
        )
        resource_group_name = group.name
    else:
        group_name = settings.resource_group_name
        group = None  # an existing group (the lab's assigned one): used, never created or deleted
        resource_group_name = pulumi.Output.from_input(group_name)

    account_name = naming.account_name(
        settings.name_prefix,
        subscription_id=identity.subscription_id,
        resource_group=group_name,
        stack=stack,
        location=settings.location,
    )
    principal_id = settings.principal_id or identity.object_id
    account = OpenAIAccount(
        "openai",
        OpenAIAccountArgs(
            subscription_id=identity.subscription_id,
            resource_group_name=resource_group_name,
            location=settings.location,
            account_name=account_name,
            principal_id=principal_id,
            principal_type=principal_type,
            runner_principal_id=identity.object_id,
            runner_principal_type=runner.principal_type or "User",
            runner_role_grants=tuple(runner_grant(g) for g in runner_role_grants(settings)),
            sku=settings.account_sku,
            disable_local_auth=settings.disable_local_auth,
            public_network_access=settings.public_network_access,
            allowed_ip_ranges=settings.allowed_ip_ranges,
            tags=settings.tags,
            purge_on_destroy=settings.purge_on_destroy,
            managed_identity=settings.managed_identity,
            user_assigned_identity_id=settings.user_assigned_identity_id,
            customer_managed_key_uri=settings.customer_managed_key_uri,
            lock=settings.lock_account,
        ),
    )
    account_id = naming.account_resource_id(identity.subscription_id, group_name, account_name)
    private_access = _private_access(settings, account, account_name, resource_group_name)
    diagnostics = _diagnostics(settings, account, resource_group_name, stack)

    outputs: dict[str, Any] = {
        envnames.AZURE_OPENAI_ENDPOINT: account.endpoint,
        envnames.AZURE_OPENAI_RESOURCE_NAME: account.name,
        envnames.AZURE_OPENAI_ACCOUNT_ID: account.id,
        envnames.AZURE_RESOURCE_GROUP: resource_group_name,
        envnames.AZURE_SUBSCRIPTION_ID: identity.subscription_id,
    }
    if account.api_key is not None:
        outputs[envnames.AZURE_OPENAI_API_KEY] = account.api_key  # already a secret
    return StackParts(
        settings=settings,
        identity=identity,
        principal_id=principal_id,
        resource_group_name=resource_group_name,
        resource_group=group,
        account=account,
        account_id=account_id,
        outputs=outputs,
        private_access=private_access,
        diagnostics=diagnostics,
    )


def _private_access(settings: StackSettings, account: OpenAIAccount, account_name: str,
                    resource_group_name: pulumi.Input[str]) -> PrivateAccess | None:
    """Private endpoint + DNS when a subnet is configured; the account's data-plane steps then wait for them."""
    if not settings.private_endpoint:
        return None
    private_access = PrivateAccess("openai-private", PrivateAccessArgs(
        account_id=account.id,
        account_name=account_name,
        resource_group_name=resource_group_name,
        location=settings.location,
        subnet_id=settings.private_endpoint_subnet_id,
        virtual_network_id=settings.virtual_network_id,
        dns_zone_id=settings.private_dns_zone_id,
        tags=settings.tags,
    ))
    account.allow_data_plane_after(*private_access.data_plane_access)
    return private_access


def _diagnostics(settings: StackSettings, account: OpenAIAccount, resource_group_name: pulumi.Input[str],
                 stack: str) -> AccountDiagnostics | None:
    """Diagnostic setting to the configured (or a new) Log Analytics workspace, when diagnosticSettings is on."""
    if not settings.diagnostic_settings:
        return None
    return AccountDiagnostics("openai-diagnostics", AccountDiagnosticsArgs(
        account_id=account.id,
        resource_group_name=resource_group_name,
        location=settings.location,
        workspace_id=settings.log_analytics_workspace_id,
        workspace_name=naming.log_analytics_workspace_name(settings.name_prefix, stack),
        tags=settings.tags,
    ))


def export_outputs(outputs: dict[str, Any]) -> None:
    """Export stack outputs; names in `envnames.SECRET_OUTPUTS` are always exported as secrets."""
    for name, value in outputs.items():
        pulumi.export(name, pulumi.Output.secret(value) if name in envnames.SECRET_OUTPUTS else value)

"""`OpenAIAccount`: the lab's Tasks 1-3 as one reusable component.

An Azure OpenAI account (kind OpenAI, custom subdomain always set so Entra ID tokens work), its soft-delete guard,
the four role assignments of Task 2, and, only when local auth is on, the account key as a secret (Task 3).
The prod stack and later issues reuse it with different args.
"""
from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Final

import pulumi
from pulumi_azure_native import authorization, cognitiveservices

from infra import naming
from infra.soft_delete import AccountSoftDelete

COMPONENT_TYPE: Final = "aoai-finetune:index:OpenAIAccount"


@dataclass(frozen=True)
class OpenAIAccountArgs:
    """Everything the component needs; names are already computed (see `infra.naming`)."""

    subscription_id: str
    resource_group_name: pulumi.Input[str]
    location: str
    account_name: str
    principal_id: str
    principal_type: str = "User"
    sku: str = "S0"
    custom_subdomain: str | None = None
    disable_local_auth: bool = False
    public_network_access: str = "Enabled"
    allowed_ip_ranges: Sequence[str] = ()
    tags: Mapping[str, str] = field(default_factory=dict)
    purge_on_destroy: bool = True
    role_grants: Sequence[naming.RoleGrant] = naming.ROLE_GRANTS
    # The identity running `pulumi up`, when principal_id is someone else: the roles the stack's own data-plane
    # steps need (keyless training, the smoke test). Keys in `role_assignments` are prefixed "runner-".
    runner_principal_id: str = ""
    runner_principal_type: str = "User"
    runner_role_grants: Sequence[naming.RoleGrant] = ()

    @property
    def subdomain(self) -> str:
        return self.custom_subdomain or naming.custom_subdomain(self.account_name)


class OpenAIAccount(pulumi.ComponentResource):
    """Account + soft-delete guard + role assignments (+ key as a secret when local auth is on)."""

    account: cognitiveservices.Account
    soft_delete: AccountSoftDelete
    role_assignments: dict[str, authorization.RoleAssignment]
    id: pulumi.Output[str]
    name: pulumi.Output[str]
    endpoint: pulumi.Output[str]
    api_key: pulumi.Output[str] | None

    def __init__(self, resource_name: str, args: OpenAIAccountArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__(COMPONENT_TYPE, resource_name, None, opts)
        self.args = args
        child = pulumi.ResourceOptions(parent=self)

        self.soft_delete = AccountSoftDelete(
            f"{resource_name}-soft-delete",
            subscription_id=args.subscription_id,
            location=args.location,
            resource_group_name=args.resource_group_name,
            account_name=args.account_name,
            purge_on_destroy=args.purge_on_destroy,
            opts=child,
        )
        self.account = cognitiveservices.Account(
            resource_name,
            account_name=args.account_name,
            resource_group_name=args.resource_group_name,
            location=args.location,
            kind="OpenAI",
            sku=cognitiveservices.SkuArgs(name=args.sku),
            properties=cognitiveservices.AccountPropertiesArgs(
                custom_sub_domain_name=args.subdomain,
                disable_local_auth=args.disable_local_auth,
                public_network_access=args.public_network_access,
                network_acls=_network_acls(args.allowed_ip_ranges),
                # Only sent when the guard found our name soft-deleted and purging is off: recover it.
                restore=self.soft_delete.restore.apply(lambda restore: True if restore else None),
            ),
            tags=dict(args.tags),
            opts=pulumi.ResourceOptions(parent=self, depends_on=[self.soft_delete]),
        )
        self.id = self.account.id
        self.name = self.account.name
        self.endpoint = self.account.properties.apply(lambda props: props.endpoint)
        self.role_assignments = {
            grant.key: self._assign(resource_name, grant, args.principal_id, args.principal_type)
            for grant in args.role_grants
        }
        if args.runner_principal_id and args.runner_principal_id.lower() != args.principal_id.lower():
            for grant in args.runner_role_grants:
                self.role_assignments[grant.key] = self._assign(
                    resource_name, grant, args.runner_principal_id, args.runner_principal_type,
                    purpose="for the identity running pulumi up (the stack's own data-plane steps)")
        self.api_key = None if args.disable_local_auth else self._primary_key()
        self.register_outputs({"id": self.id, "name": self.name, "endpoint": self.endpoint})

    def _assign(self, resource_name: str, grant: naming.RoleGrant, principal_id: str, principal_type: str,
                purpose: str = "for the fine-tuning lab") -> authorization.RoleAssignment:
        args = self.args
        scope: pulumi.Input[str] = (
            self.account.id if grant.scope == "account" else naming.subscription_scope(args.subscription_id)
        )
        return authorization.RoleAssignment(
            f"{resource_name}-{grant.key}",
            scope=scope,
            role_assignment_name=pulumi.Output.from_input(scope).apply(
                lambda s: naming.role_assignment_name(s, principal_id, grant.role_guid)
            ),
            role_definition_id=naming.role_definition_id(args.subscription_id, grant.role_guid),
            principal_id=principal_id,
            principal_type=principal_type,
            description=f"{grant.display_name} {purpose} (aoai-finetune)",
            opts=pulumi.ResourceOptions(parent=self, depends_on=[self.account]),
        )

    def _primary_key(self) -> pulumi.Output[str]:
        keys = cognitiveservices.list_account_keys_output(
            account_name=self.account.name,
            resource_group_name=self.args.resource_group_name,
            opts=pulumi.InvokeOutputOptions(parent=self, depends_on=[self.account]),
        )
        return pulumi.Output.secret(keys.key1)


def _network_acls(allowed_ip_ranges: Sequence[str]) -> cognitiveservices.NetworkRuleSetArgs:
    """Deny by default with the given IP rules, or an explicit Allow (so removing the ranges re-opens access)."""
    if allowed_ip_ranges:
        return cognitiveservices.NetworkRuleSetArgs(
            default_action="Deny",
            ip_rules=[cognitiveservices.IpRuleArgs(value=ip) for ip in allowed_ip_ranges],
        )
    return cognitiveservices.NetworkRuleSetArgs(default_action="Allow", ip_rules=[])

"""`OpenAIAccount`: the lab's Tasks 1-3 as one reusable component.

An Azure OpenAI account (kind OpenAI, custom subdomain always set so Entra ID tokens work), its soft-delete guard,
the four role assignments of Task 2, and, only when local auth is on, the account key as a secret (Task 3).
The prod stack reuses it with production args: a managed identity, a customer-managed key, and a CanNotDelete lock
(protected in Pulumi too, so `pulumi destroy` stops before deleting anything while the lock is there).
"""
from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Final

import pulumi
from pulumi_azure_native import authorization, cognitiveservices, managedidentity

from infra import naming
from infra.settings import KEY_URI_PATTERN
from infra.soft_delete import AccountSoftDelete

COMPONENT_TYPE: Final = "aoai-finetune:index:OpenAIAccount"
LOCK_NAME: Final = "aoai-finetune-do-not-delete"
LOCK_NOTES: Final = (
    "Production Azure OpenAI account managed by Pulumi (aoai-finetune). Before `pulumi destroy`: "
    "`pulumi config set aoai-finetune:lockAccount false`, `pulumi state unprotect <lock urn>`, `pulumi up`."
)
_USER_IDENTITY_RE: Final = re.compile(r"/resourceGroups/(?P<rg>[^/]+)/providers/Microsoft\.ManagedIdentity/"
                                      r"userAssignedIdentities/(?P<name>[^/]+)$", re.IGNORECASE)


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
    # Production controls (all off by default).
    managed_identity: str = "None"  # None, SystemAssigned, UserAssigned or SystemAssigned,UserAssigned
    user_assigned_identity_id: str = ""
    customer_managed_key_uri: str = ""  # with the user-assigned identity as the one reading the key
    lock: bool = False  # CanNotDelete on the account

    @property
    def subdomain(self) -> str:
        return self.custom_subdomain or naming.custom_subdomain(self.account_name)


class OpenAIAccount(pulumi.ComponentResource):
    """Account + soft-delete guard + role assignments (+ key as a secret when local auth is on)."""

    account: cognitiveservices.Account
    soft_delete: AccountSoftDelete
    role_assignments: dict[str, authorization.RoleAssignment]
    lock: authorization.ManagementLockByScope | None
    data_plane_access: list[pulumi.Resource]
    """What must exist before this machine can call the account's data plane (training, smoke test, evaluation):
    the role assignments, and the private endpoint with its DNS when the program adds one (`allow_data_plane_after`)."""
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
                encryption=self._encryption(),
            ),
            identity=_identity(args.managed_identity, args.user_assigned_identity_id),
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
        self.data_plane_access = list(self.role_assignments.values())
        self.lock = self._lock(resource_name) if args.lock else None
        self.api_key = None if args.disable_local_auth else self._primary_key()
        self.register_outputs({"id": self.id, "name": self.name, "endpoint": self.endpoint})

    def allow_data_plane_after(self, *resources: pulumi.Resource) -> None:
        """Data-plane steps declared from now on also wait for these (e.g. the private endpoint and its DNS)."""
        self.data_plane_access.extend(resources)

    def _lock(self, resource_name: str) -> authorization.ManagementLockByScope:
        """CanNotDelete on the account, protected: `pulumi destroy` refuses at once instead of failing half-way."""
        return authorization.ManagementLockByScope(
            f"{resource_name}-lock",
            scope=self.account.id,
            lock_name=LOCK_NAME,
            level=authorization.LockLevel.CAN_NOT_DELETE,
            notes=LOCK_NOTES,
            opts=pulumi.ResourceOptions(parent=self, depends_on=[self.account], protect=True),
        )

    def _encryption(self) -> cognitiveservices.EncryptionArgs | None:
        """Customer-managed key: the vault, key and optional version from the key URI, read by the user-assigned
        identity (whose client id ARM needs)."""
        args = self.args
        if not args.customer_managed_key_uri:
            return None
        key = KEY_URI_PATTERN.match(args.customer_managed_key_uri)
        identity = _USER_IDENTITY_RE.search(args.user_assigned_identity_id)
        if key is None or identity is None:
            raise ValueError("customer_managed_key_uri needs a Key Vault key URI and user_assigned_identity_id an "
                             "identity's ARM id")
        client_id = managedidentity.get_user_assigned_identity_output(
            resource_group_name=identity["rg"], resource_name=identity["name"],
            opts=pulumi.InvokeOutputOptions(parent=self),
        ).client_id
        return cognitiveservices.EncryptionArgs(
            key_source="Microsoft.KeyVault",
            key_vault_properties=cognitiveservices.KeyVaultPropertiesArgs(
                key_vault_uri=f"https://{key['vault']}.{key['domain']}/", key_name=key["name"],
                key_version=key["version"], identity_client_id=client_id,
            ),
        )

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


def _identity(kind: str, user_assigned_identity_id: str) -> cognitiveservices.IdentityArgs | None:
    """The account's managed identity; None (nothing sent) when off, so a dev account is declared as before."""
    if kind == "None":
        return None
    types = {"SystemAssigned": cognitiveservices.ResourceIdentityType.SYSTEM_ASSIGNED,
             "UserAssigned": cognitiveservices.ResourceIdentityType.USER_ASSIGNED,
             "SystemAssigned,UserAssigned": cognitiveservices.ResourceIdentityType.SYSTEM_ASSIGNED_USER_ASSIGNED}
    return cognitiveservices.IdentityArgs(
        type=types[kind],
        user_assigned_identities=[user_assigned_identity_id] if "UserAssigned" in kind else None,
    )


def _network_acls(allowed_ip_ranges: Sequence[str]) -> cognitiveservices.NetworkRuleSetArgs:
    """Deny by default with the given IP rules, or an explicit Allow (so removing the ranges re-opens access)."""
    if allowed_ip_ranges:
        return cognitiveservices.NetworkRuleSetArgs(
            default_action="Deny",
            ip_rules=[cognitiveservices.IpRuleArgs(value=ip) for ip in allowed_ip_ranges],
        )
    return cognitiveservices.NetworkRuleSetArgs(default_action="Allow", ip_rules=[])

"""Names and role tables for the stack, as pure functions (no Pulumi import) so tests can call them directly.

Why deterministic names: an account name and its subdomain are global and stay reserved for 48 h after a delete,
and a role assignment name must be a GUID that never gets reused for a different principal or role. Deriving all of
them from stable inputs makes re-runs idempotent and lets a destroyed stack come back under the same names.
"""
from __future__ import annotations

import hashlib
import re
import uuid
from dataclasses import dataclass
from typing import Final, Literal

ROLE_ASSIGNMENT_NAMESPACE: Final = uuid.uuid5(uuid.NAMESPACE_URL, "urn:aoai-finetune:role-assignment")
"""uuid5 namespace of our role assignment names; fixed forever, or every assignment would be re-created."""

ACCOUNT_NAME_HASH_LENGTH: Final = 8
MAX_PREFIX_LENGTH: Final = 40


@dataclass(frozen=True)
class RoleGrant:
    """One built-in role the lab grants (Task 2), and where it is assigned."""

    key: str
    display_name: str
    role_guid: str
    scope: Literal["account", "subscription"]


# GUIDs from Azure's built-in role definitions (Microsoft Learn, "Azure built-in roles for AI + machine learning").
OPENAI_CONTRIBUTOR: Final = RoleGrant(
    "openai-contributor", "Cognitive Services OpenAI Contributor", "a001fd3d-188f-4b5d-821b-7da978bf7442", "account"
)
OPENAI_USER: Final = RoleGrant(
    "openai-user", "Cognitive Services OpenAI User", "5e0bd9bd-7b93-4f28-af87-19fc36ad61bd", "account"
)
COGNITIVE_SERVICES_CONTRIBUTOR: Final = RoleGrant(
    "cs-contributor", "Cognitive Services Contributor", "25fbc0a9-bd7c-42a3-aa1a-3b75d497ee68", "account"
)
USAGES_READER: Final = RoleGrant(
    "usages-reader", "Cognitive Services Usages Reader", "bba48692-92b0-4667-a9ad-c31c7b334ac2", "subscription"
)
ROLE_GRANTS: Final[tuple[RoleGrant, ...]] = (OPENAI_CONTRIBUTOR, OPENAI_USER, COGNITIVE_SERVICES_CONTRIBUTOR, USAGES_READER)

_PREFIX_RE = re.compile(r"^[a-z][a-z0-9-]*[a-z0-9]$")


def short_hash(*parts: str, length: int = ACCOUNT_NAME_HASH_LENGTH) -> str:
    """A short, case-insensitive, stable hex digest of `parts`."""
    joined = "\x1f".join(part.strip().lower() for part in parts)
    return hashlib.sha256(joined.encode()).hexdigest()[:length]


def sanitize_label(value: str) -> str:
    """Lower-case `value` and keep only DNS-label characters (stack names may contain '.', '_' or '/')."""
    label = re.sub(r"[^a-z0-9-]+", "-", value.lower()).strip("-")
    return re.sub(r"-{2,}", "-", label) or "stack"


def account_name(prefix: str, *, subscription_id: str, resource_group: str, stack: str, location: str) -> str:
    """`<prefix>-<hash8>`: globally unique in practice, identical on every run of the same stack.

    The location is part of the hash so moving a stack to another region yields a new name (create-before-delete
    then works, and the old account is purged) instead of colliding with the soft-deleted one.
    """
    if not _PREFIX_RE.match(prefix) or len(prefix) > MAX_PREFIX_LENGTH:
        raise ValueError(
            f"name prefix {prefix!r} must be 2-{MAX_PREFIX_LENGTH} chars of a-z, 0-9 and '-', "
            "starting with a letter and not ending with '-'"
        )
    return f"{prefix}-{short_hash(subscription_id, resource_group, stack, location)}"


def custom_subdomain(name: str) -> str:
    """The account's custom subdomain (needed for Entra ID tokens): the account name, as a DNS label."""
    return sanitize_label(name)


def endpoint_for(subdomain: str) -> str:
    """The data-plane endpoint of an OpenAI-kind account with this subdomain."""
    return f"https://{subdomain}.openai.azure.com/"


def resource_group_name(prefix: str, stack: str) -> str:
    """Name of the group the stack creates when no existing group is configured."""
    return f"rg-{prefix}-{sanitize_label(stack)}"


def log_analytics_workspace_name(prefix: str, stack: str) -> str:
    """Name of the Log Analytics workspace the stack creates when diagnostics are on and none is configured
    (4-63 letters, digits and '-', starting and ending with a letter or digit)."""
    return f"log-{prefix}-{sanitize_label(stack)}"[:63].rstrip("-")


def subscription_scope(subscription_id: str) -> str:
    return f"/subscriptions/{subscription_id}"


def account_resource_id(subscription_id: str, resource_group: str, name: str) -> str:
    """ARM id of an account (what `cognitiveservices.Account.id` returns)."""
    return (
        f"/subscriptions/{subscription_id}/resourceGroups/{resource_group}"
        f"/providers/Microsoft.CognitiveServices/accounts/{name}"
    )


def role_definition_id(subscription_id: str, role_guid: str) -> str:
    """Subscription-qualified id of a built-in role definition, as ARM expects in `roleDefinitionId`."""
    return f"/subscriptions/{subscription_id}/providers/Microsoft.Authorization/roleDefinitions/{role_guid}"


def role_assignment_name(scope: str, principal_id: str, role_guid: str) -> str:
    """uuid5 of scope + principal + role: the same triple always maps to the same assignment name.

    Case-insensitive, because ARM ids are, and Azure sometimes echoes them back with different casing.
    """
    key = "|".join(part.strip().lower().rstrip("/") for part in (scope, principal_id, role_guid))
    return str(uuid.uuid5(ROLE_ASSIGNMENT_NAMESPACE, key))

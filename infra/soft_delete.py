"""A thin dynamic resource that handles the account's soft-deleted twin, so destroy leaves nothing behind and
`pulumi up` after a destroy works.

Azure keeps a deleted Cognitive Services account for 48 h under its name and refuses to create that name again.
azure-native has no purge-on-destroy, so this resource sits *before* the account (the account depends on it):
- on create, if a soft-deleted account with our name exists (e.g. an earlier destroy kept it), it purges it when
  `purge_on_destroy` is on, else it reports `restore=True` and the account is re-created with `restore: true`;
- on delete (after Pulumi deleted the account, because the account depends on it) it purges the soft-deleted
  account when `purge_on_destroy` is on.
All ARM work is in `pipeline.arm`; the provider runs in Pulumi's provider process, so it reads the ARM endpoint
and credentials from that process's environment at call time and keeps none in state.
"""
from __future__ import annotations

from typing import Any, Final

import pulumi
from pulumi.dynamic import CreateResult, DiffResult, Resource, ResourceProvider, UpdateResult

IDENTITY_KEYS: Final = ("subscription_id", "location", "resource_group_name", "account_name")
"""Changing any of these means a different account: replace (and purge the old one, if configured)."""
PURGE_POLL_SECONDS: Final = 5.0
"""How often delete() looks for the just-deleted account under deletedAccounts before purging it."""


def _client(props: dict[str, Any]) -> Any:
    from pipeline import arm

    return arm.management_client(props["subscription_id"], polling_interval=5)


def _where(props: dict[str, Any]) -> dict[str, str]:
    return {
        "location": props["location"],
        "resource_group": props["resource_group_name"],
        "account_name": props["account_name"],
    }


class SoftDeleteProvider(ResourceProvider):
    """CRUD for the soft-delete guard; every method is a couple of `pipeline.arm` calls."""

    serialize_as_secret_always = False  # captures nothing secret; keeps the state readable

    def create(self, props: dict[str, Any]) -> CreateResult:
        from pipeline import arm

        client = _client(props)
        restore = False
        purged_stale = False
        if arm.find_deleted_account(client, **_where(props)) is not None:
            if props["purge_on_destroy"]:
                purged_stale = arm.purge_deleted_account(client, **_where(props), wait_seconds=0)
            else:
                restore = True
        outs = {**props, "restore": restore, "purged_stale": purged_stale}
        return CreateResult(id_=_resource_id(props), outs=outs)

    def diff(self, _id: str, olds: dict[str, Any], news: dict[str, Any]) -> DiffResult:
        replaces = [key for key in IDENTITY_KEYS if olds.get(key) != news.get(key)]
        changes = bool(replaces) or olds.get("purge_on_destroy") != news.get("purge_on_destroy")
        return DiffResult(changes=changes, replaces=replaces, delete_before_replace=False)

    def update(self, _id: str, olds: dict[str, Any], news: dict[str, Any]) -> UpdateResult:
        # Only purge_on_destroy can change in place; keep what create decided.
        return UpdateResult(outs={**news, "restore": olds.get("restore", False), "purged_stale": olds.get("purged_stale", False)})

    def delete(self, _id: str, props: dict[str, Any]) -> None:
        from pipeline import arm

        if not props.get("purge_on_destroy"):
            pulumi.log.info(f"keeping soft-deleted account {props['account_name']} (purgeOnDestroy is false)")
            return
        arm.purge_deleted_account(
            _client(props), **_where(props), wait_seconds=arm.PURGE_WAIT_SECONDS, poll_seconds=PURGE_POLL_SECONDS
        )


def _resource_id(props: dict[str, Any]) -> str:
    return "/".join(
        ["softdelete", props["subscription_id"], props["location"], props["resource_group_name"], props["account_name"]]
    )


class AccountSoftDelete(Resource, module="aoai-finetune", name="AccountSoftDelete"):
    """Purges (or restores) the soft-deleted account named `account_name`; see the module docstring."""

    restore: pulumi.Output[bool]
    purged_stale: pulumi.Output[bool]

    def __init__(
        self,
        resource_name: str,
        *,
        subscription_id: pulumi.Input[str],
        location: pulumi.Input[str],
        resource_group_name: pulumi.Input[str],
        account_name: pulumi.Input[str],
        purge_on_destroy: pulumi.Input[bool],
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        props = {
            "subscription_id": subscription_id,
            "location": location,
            "resource_group_name": resource_group_name,
            "account_name": account_name,
            "purge_on_destroy": purge_on_destroy,
            "restore": None,
            "purged_stale": None,
        }
        super().__init__(SoftDeleteProvider(), resource_name, props, opts)

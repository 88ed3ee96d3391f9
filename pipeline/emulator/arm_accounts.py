"""`Microsoft.CognitiveServices/accounts`: create/update/get/list/delete, keys, soft delete, purge, restore.

Deleting an account soft-deletes it (kept 48 h, name and subdomain reserved) and removes its deployments.
Its data-plane content (files, jobs, fine-tuned models) is left in place while soft-deleted, so a restore
brings it back like Azure's recover does; purging deletes it (every row keyed by the account in any table,
plus whatever `Accounts.on_purge` hooks the data plane registers).
"""
from __future__ import annotations

import uuid
from typing import Any

from fastapi.responses import Response

from pipeline.emulator.accounts import SOFT_DELETE_RETENTION_SECONDS, Account
from pipeline.emulator.arm_common import (
    CS_PROVIDER, ArmContext, check_resource_name, iso, json_response, no_content, normalize_location,
    not_found, validate_body, with_etag,
)
from pipeline.emulator.arm_groups import ResourceGroup, ResourceGroups
from pipeline.emulator.errors import AzureError
from pipeline.emulator.state import EmulatorState

ACCOUNT_TYPE = f"{CS_PROVIDER}/accounts"
# Set by the service, ignored when a client sends them back.
READ_ONLY_PROPERTIES = frozenset({
    "provisioningState", "endpoint", "endpoints", "internalId", "capabilities", "isMigrated", "skuChangeInfo",
    "privateEndpointConnections", "dateCreated", "callRateLimit", "quotaLimit", "deletionDate",
    "scheduledPurgeDate", "locations", "abusePenalty", "dynamicThrottlingEnabled",
})
# What an OpenAI account reports (names as the service uses them; values are the documented defaults).
OPENAI_CAPABILITIES: tuple[dict[str, str], ...] = (
    {"name": "VirtualNetworks"},
    {"name": "CustomerManagedKey"},
    {"name": "MaxFineTuneCount", "value": "100"},
    {"name": "MaxRunningFineTuneCount", "value": "1"},
    {"name": "MaxUserFileCount", "value": "100"},
    {"name": "MaxTrainingFileSize", "value": "512000000"},
    {"name": "MaxUserFileImportDurationInHours", "value": "1"},
    {"name": "MaxFineTuneJobDurationInHours", "value": "720"},
)


def account_endpoint(base_url: str, name: str, default_account: str) -> str:
    """The account's data-plane URL: the bare server for the default account, `/accounts/{name}/` otherwise."""
    return base_url if name.lower() == default_account.lower() else f"{base_url}accounts/{name}/"


def deleted_account_id(account: Account) -> str:
    return (
        f"/subscriptions/{account.subscription_id}/providers/{CS_PROVIDER}/locations/{account.location}"
        f"/resourceGroups/{account.resource_group}/deletedAccounts/{account.name}"
    )


def account_to_arm(ctx: ArmContext, account: Account) -> dict[str, Any]:
    endpoint = account_endpoint(ctx.base_url, account.name, ctx.config.default_account)
    properties: dict[str, Any] = {
        **account.properties,
        "endpoint": endpoint,
        "endpoints": {"OpenAI Language Model Instance API": endpoint, "OpenAI Fine-Tuning API": endpoint},
        "provisioningState": "Succeeded",
        "dateCreated": iso(account.created_at),
        "internalId": uuid.uuid5(uuid.NAMESPACE_URL, f"{account.arm_id}@{account.created_at}").hex,
        "capabilities": [dict(c) for c in OPENAI_CAPABILITIES],
    }
    resource: dict[str, Any] = {
        "id": account.arm_id,
        "name": account.name,
        "type": ACCOUNT_TYPE,
        "location": account.location,
        "kind": account.kind,
        "sku": account.sku,
        "tags": account.tags,
        "properties": properties,
        "systemData": {"createdAt": iso(account.created_at)},
    }
    if account.identity is not None:
        resource["identity"] = account.identity
    if account.deleted_at is not None:
        resource["id"] = deleted_account_id(account)
        properties["deletionDate"] = iso(account.deleted_at)
        properties["scheduledPurgeDate"] = iso(account.deleted_at + SOFT_DELETE_RETENTION_SECONDS)
    return with_etag(resource)


class AccountHandlers:
    def __init__(self, state: EmulatorState, groups: ResourceGroups) -> None:
        self.state, self.accounts, self.groups = state, state.accounts, groups
        self.accounts.on_purge.append(self._purge_account_rows)

    # ---- lookups -----------------------------------------------------------------------------------
    def require_in_group(self, sub: str, rg: str, name: str) -> Account:
        account = self.accounts.get(name)
        if account is None or account.subscription_id != sub or account.resource_group.lower() != rg.lower():
            raise not_found(ACCOUNT_TYPE, name, rg)
        return account

    def _deleted_named(self, sub: str, name: str) -> Account | None:
        return next((a for a in self.accounts.deleted(sub) if a.name.lower() == name.lower()), None)

    # ---- accounts ----------------------------------------------------------------------------------
    def put(self, ctx: ArmContext, sub: str, rg: str, account: str) -> Response:
        check_resource_name(account)
        body = ctx.json_body()
        validate_body("Account", body)
        location, kind, sku = body.get("location"), body.get("kind"), body.get("sku")
        if not location:
            raise AzureError(400, "LocationRequired", "The location property is required for this definition.",
                             target="location")
        if not kind:
            raise AzureError(400, "InvalidRequestContent",
                             "The request content was invalid: 'kind' is required (e.g. \"OpenAI\").", target="kind")
        if not sku:
            raise AzureError(400, "InvalidRequestContent",
                             "The request content was invalid: 'sku' is required (e.g. {\"name\": \"S0\"}).",
                             target="sku")
        group = self.groups.require(sub, rg)
        location = normalize_location(location)
        properties = {k: v for k, v in (body.get("properties") or {}).items() if k not in READ_ONLY_PROPERTIES}
        restore = properties.pop("restore", False) is True

        live = self.accounts.get(account)
        if live is not None and (live.subscription_id != sub or live.resource_group.lower() != rg.lower()):
            raise AzureError(
                409, "Conflict",
                f"An account named '{account}' already exists in resource group '{live.resource_group}'. "
                "Account names are global in this emulator (they route the data plane); pick another name.",
            )
        self._check_subdomain(sub, account, properties.get("customSubDomainName"))

        status = 200
        if live is None:
            deleted = self._deleted_named(sub, account)
            if deleted is not None and not restore:
                raise AzureError(
                    409, "FlagMustBeSetForRestore",
                    f"An existing resource with ID '{deleted.arm_id}' has been soft-deleted. To restore the "
                    "resource, you must specify 'restore' to be 'true' in the property. If you don't want to "
                    f"restore existing resource, please purge it first (DELETE {deleted_account_id(deleted)}).",
                )
            if deleted is not None:
                if deleted.resource_group.lower() != group.name.lower() or deleted.location != location:
                    raise AzureError(
                        409, "Conflict",
                        f"The soft-deleted account '{account}' lives in resource group '{deleted.resource_group}', "
                        f"location '{deleted.location}'; restore it there or purge it first.",
                    )
                live = self.accounts.restore(deleted)
            else:
                status = 201
        elif live.location != location:
            raise AzureError(
                409, "InvalidResourceLocation",
                f"The resource '{account}' already exists in location '{live.location}' in resource group "
                f"'{live.resource_group}'. A resource with the same name cannot be created in location '{location}'.",
            )
        elif live.kind.lower() != str(kind).lower():
            raise AzureError(409, "Conflict", f"The kind of account '{account}' cannot change from '{live.kind}'.")

        key1, key2 = (live.key1, live.key2) if live else self.accounts.new_keys()
        saved = self.accounts.upsert(Account(
            name=live.name if live else account,
            subscription_id=sub,
            resource_group=group.name,
            location=location,
            kind=str(kind),
            sku=sku,
            properties=properties,
            tags=body.get("tags") or {},
            identity=self._identity(ctx, body.get("identity"), live.identity if live else None),
            key1=key1,
            key2=key2,
            created_at=live.created_at if live else ctx.now,
        ))
        return json_response(account_to_arm(ctx, saved), status=status)

    def _check_subdomain(self, sub: str, name: str, subdomain: Any) -> None:
        if not subdomain:
            return
        others = [*self.accounts.list(sub), *self.accounts.deleted(sub)]
        for other in others:
            if other.name.lower() == name.lower():
                continue
            if str(other.properties.get("customSubDomainName", "")).lower() == str(subdomain).lower():
                state = "a soft-deleted account (purge it to free the name)" if other.deleted_at else "another account"
                raise AzureError(
                    409, "CustomDomainInUse",
                    f"The custom subdomain name '{subdomain}' is already in use by {state} "
                    f"('{other.name}'). Custom subdomains are globally unique; choose another.",
                    target="properties.customSubDomainName",
                )

    def _identity(self, ctx: ArmContext, requested: Any, previous: dict[str, Any] | None) -> dict[str, Any] | None:
        if not requested:
            return previous
        identity = dict(requested)
        if "SystemAssigned" in str(identity.get("type", "")):
            identity["principalId"] = (previous or {}).get("principalId") or str(uuid.uuid4())
            identity["tenantId"] = ctx.config.tenant_id
        else:
            identity.pop("principalId", None)
            identity.pop("tenantId", None)
        return identity

    def get(self, ctx: ArmContext, sub: str, rg: str, account: str) -> Response:
        return json_response(account_to_arm(ctx, self.require_in_group(sub, rg, account)))

    def list_in_group(self, ctx: ArmContext, sub: str, rg: str) -> Response:
        group = self.groups.require(sub, rg)
        return json_response({"value": [account_to_arm(ctx, a) for a in self.accounts.list(sub, group.name)]})

    def list_in_subscription(self, ctx: ArmContext, sub: str) -> Response:
        return json_response({"value": [account_to_arm(ctx, a) for a in self.accounts.list(sub)]})

    def delete(self, ctx: ArmContext, sub: str, rg: str, account: str) -> Response:
        try:
            found = self.require_in_group(sub, rg, account)
        except AzureError:
            return no_content()  # ARM: deleting what is not there is a success
        self.soft_delete(found)
        return Response(status_code=200)

    def soft_delete(self, account: Account) -> None:
        self.state.deployments.delete_account(account.name)
        self.accounts.soft_delete(account.name)

    def delete_group_accounts(self, ctx: ArmContext, group: ResourceGroup) -> None:
        for account in self.accounts.list(group.subscription_id, group.name):
            self.soft_delete(account)

    # ---- keys --------------------------------------------------------------------------------------
    def list_keys(self, ctx: ArmContext, sub: str, rg: str, account: str) -> Response:
        found = self.require_in_group(sub, rg, account)
        self._require_local_auth(found)
        return json_response({"key1": found.key1, "key2": found.key2})

    def regenerate_key(self, ctx: ArmContext, sub: str, rg: str, account: str) -> Response:
        found = self.require_in_group(sub, rg, account)
        body = ctx.json_body()
        validate_body("RegenerateKeyParameters", body)
        self._require_local_auth(found)
        new_key, _ = self.accounts.new_keys()
        if body["keyName"] == "Key1":
            found.key1 = new_key
        else:
            found.key2 = new_key
        self.accounts.upsert(found)
        return json_response({"key1": found.key1, "key2": found.key2})

    @staticmethod
    def _require_local_auth(account: Account) -> None:
        if account.local_auth_disabled:
            raise AzureError(
                400, "BadRequest",
                f"Failed to list key. disableLocalAuth is set to be true on account '{account.name}': it has no "
                "usable keys. Use Entra ID tokens, or set properties.disableLocalAuth to false.",
            )

    # ---- soft-deleted accounts ---------------------------------------------------------------------
    def list_deleted(self, ctx: ArmContext, sub: str) -> Response:
        return json_response({"value": [account_to_arm(ctx, a) for a in self.accounts.deleted(sub)]})

    def _require_deleted(self, sub: str, location: str, rg: str, account: str) -> Account:
        found = self.accounts.get_deleted(sub, location, rg, account)
        if found is None:
            raise AzureError(
                404, "ResourceNotFound",
                f"The soft-deleted account '{account}' in location '{location}', resource group '{rg}' was not found.",
            )
        return found

    def get_deleted(self, ctx: ArmContext, sub: str, location: str, rg: str, account: str) -> Response:
        return json_response(account_to_arm(ctx, self._require_deleted(sub, location, rg, account)))

    def purge(self, ctx: ArmContext, sub: str, location: str, rg: str, account: str) -> Response:
        self.accounts.purge(self._require_deleted(sub, location, rg, account))
        return Response(status_code=200)

    def _purge_account_rows(self, account: Account) -> None:
        """Drop every row keyed by this account in any table with an `account` column (files, jobs, models...)."""
        db = self.state.db
        tables = [r["name"] for r in db.query("SELECT name FROM sqlite_master WHERE type='table'")]
        for table in tables:
            columns = {c["name"] for c in db.query(f'PRAGMA table_info("{table}")')}
            if "account" in columns:
                db.execute(f'DELETE FROM "{table}" WHERE lower(account)=lower(?)', (account.name,))

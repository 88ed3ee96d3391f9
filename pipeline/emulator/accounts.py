"""Azure OpenAI accounts: created through the ARM plane, used by the data plane for keys and routing.

The default account (config.default_account) exists from the start and is served at `/openai/...`; every
account is also served at `/accounts/{name}/openai/...`, which is what its `properties.endpoint` points at.
Deleting an account soft-deletes it (Azure keeps it 48 h); `purge` removes it, `restore` brings it back.
"""
from __future__ import annotations

import secrets
from dataclasses import dataclass, field
from typing import Any, Callable

from pipeline.emulator.clock import Clock
from pipeline.emulator.db import Database, ReadCache, from_json, to_json
from pipeline.emulator.errors import AzureError

SOFT_DELETE_RETENTION_SECONDS = 48 * 3600

SCHEMA = """
CREATE TABLE IF NOT EXISTS accounts (
    name TEXT NOT NULL,
    subscription_id TEXT NOT NULL,
    resource_group TEXT NOT NULL,
    location TEXT NOT NULL,
    kind TEXT NOT NULL,
    sku TEXT NOT NULL,
    properties TEXT NOT NULL,
    tags TEXT NOT NULL,
    identity TEXT,
    key1 TEXT NOT NULL,
    key2 TEXT NOT NULL,
    created_at REAL NOT NULL,
    deleted_at REAL,
    PRIMARY KEY (name, deleted_at)
);
"""


@dataclass
class Account:
    name: str
    subscription_id: str
    resource_group: str
    location: str
    kind: str
    sku: dict[str, Any]
    properties: dict[str, Any]
    tags: dict[str, str]
    identity: dict[str, Any] | None
    key1: str
    key2: str
    created_at: float
    deleted_at: float | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def arm_id(self) -> str:
        return (
            f"/subscriptions/{self.subscription_id}/resourceGroups/{self.resource_group}"
            f"/providers/Microsoft.CognitiveServices/accounts/{self.name}"
        )

    @property
    def local_auth_disabled(self) -> bool:
        return bool(self.properties.get("disableLocalAuth"))


def _row_to_account(row: Any) -> Account:
    return Account(
        name=row["name"],
        subscription_id=row["subscription_id"],
        resource_group=row["resource_group"],
        location=row["location"],
        kind=row["kind"],
        sku=from_json(row["sku"]),
        properties=from_json(row["properties"]),
        tags=from_json(row["tags"]),
        identity=from_json(row["identity"]),
        key1=row["key1"],
        key2=row["key2"],
        created_at=row["created_at"],
        deleted_at=row["deleted_at"],
    )


class Accounts:
    def __init__(self, db: Database, clock: Clock) -> None:
        self.db, self.clock = db, clock
        # Called with the account being purged, so each plane can drop what it keeps for it (files, jobs...).
        self.on_purge: list[Callable[[Account], None]] = []
        db.ensure_schema(SCHEMA)
        self._live: ReadCache[Account | None] = ReadCache(db)

    # ---- reads -------------------------------------------------------------------------------------
    def get(self, name: str) -> Account | None:
        """The live (not soft-deleted) account with this name, if any. Names are global, like subdomains."""
        row = self.db.query_one("SELECT * FROM accounts WHERE lower(name)=lower(?) AND deleted_at IS NULL", (name,))
        return _row_to_account(row) if row else None

    def lookup(self, name: str) -> Account | None:
        """`get` for the data plane's every request: the same answer, kept until the next database write, and
        shared between callers (read it, never modify it)."""
        return self._live.get(name, lambda: self.get(name))

    def require(self, name: str) -> Account:
        account = self.get(name)
        if account is None:
            raise AzureError(
                404, "ResourceNotFound",
                f"The Resource 'Microsoft.CognitiveServices/accounts/{name}' was not found.",
            )
        return account

    def list(self, subscription_id: str, resource_group: str | None = None) -> list[Account]:
        sql = "SELECT * FROM accounts WHERE deleted_at IS NULL AND subscription_id=?"
        params: tuple = (subscription_id,)
        if resource_group is not None:
            sql += " AND lower(resource_group)=lower(?)"
            params += (resource_group,)
        return [_row_to_account(r) for r in self.db.query(sql + " ORDER BY name", params)]

    def deleted(self, subscription_id: str) -> list[Account]:
        self._expire_soft_deleted()
        rows = self.db.query(
            "SELECT * FROM accounts WHERE deleted_at IS NOT NULL AND subscription_id=? ORDER BY name",
            (subscription_id,),
        )
        return [_row_to_account(r) for r in rows]

    def get_deleted(self, subscription_id: str, location: str, resource_group: str, name: str) -> Account | None:
        for account in self.deleted(subscription_id):
            if (
                account.name.lower() == name.lower()
                and account.resource_group.lower() == resource_group.lower()
                and account.location.replace(" ", "").lower() == location.replace(" ", "").lower()
            ):
                return account
        return None

    # ---- writes ------------------------------------------------------------------------------------
    def upsert(self, account: Account) -> Account:
        with self.db.transaction() as conn:
            conn.execute("DELETE FROM accounts WHERE lower(name)=lower(?) AND deleted_at IS NULL", (account.name,))
            conn.execute(
                "INSERT INTO accounts VALUES (?,?,?,?,?,?,?,?,?,?,?,?,NULL)",
                (
                    account.name, account.subscription_id, account.resource_group, account.location,
                    account.kind, to_json(account.sku), to_json(account.properties), to_json(account.tags),
                    to_json(account.identity) if account.identity is not None else None,
                    account.key1, account.key2, account.created_at,
                ),
            )
        return account

    def new_keys(self) -> tuple[str, str]:
        return secrets.token_hex(16), secrets.token_hex(16)

    def soft_delete(self, name: str) -> Account:
        account = self.require(name)
        now = self.clock.now()
        self.db.execute(
            "UPDATE accounts SET deleted_at=? WHERE lower(name)=lower(?) AND deleted_at IS NULL", (now, name)
        )
        account.deleted_at = now
        return account

    def purge(self, account: Account) -> None:
        for hook in self.on_purge:
            hook(account)
        self.db.execute(
            "DELETE FROM accounts WHERE lower(name)=lower(?) AND deleted_at=?", (account.name, account.deleted_at)
        )

    def restore(self, account: Account) -> Account:
        self.db.execute(
            "UPDATE accounts SET deleted_at=NULL WHERE lower(name)=lower(?) AND deleted_at=?",
            (account.name, account.deleted_at),
        )
        account.deleted_at = None
        return account

    def _expire_soft_deleted(self) -> None:
        cutoff = self.clock.now() - SOFT_DELETE_RETENTION_SECONDS
        self.db.execute("DELETE FROM accounts WHERE deleted_at IS NOT NULL AND deleted_at < ?", (cutoff,))

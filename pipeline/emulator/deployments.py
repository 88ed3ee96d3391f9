"""Model deployments of an account: written by the ARM plane, read by the data plane's chat route."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from pipeline.emulator.clock import Clock
from pipeline.emulator.db import Database, ReadCache, from_json, to_json

SCHEMA = """
CREATE TABLE IF NOT EXISTS deployments (
    account TEXT NOT NULL COLLATE NOCASE,
    name TEXT NOT NULL COLLATE NOCASE,  -- ARM resource names are case-insensitive
    sku TEXT NOT NULL,
    properties TEXT NOT NULL,
    tags TEXT NOT NULL,
    created_at REAL NOT NULL,
    ready_at REAL NOT NULL,
    model_name TEXT NOT NULL DEFAULT '',  -- properties.model.name, what `/models` delete looks up
    PRIMARY KEY (account, name)
);
"""


@dataclass
class Deployment:
    account: str
    name: str
    sku: dict[str, Any]
    properties: dict[str, Any]
    tags: dict[str, str]
    created_at: float
    ready_at: float  # provisioningState is Creating until the clock passes this

    @property
    def model_name(self) -> str:
        return str(self.properties.get("model", {}).get("name", ""))

    def provisioning_state(self, now: float) -> str:
        return "Succeeded" if now >= self.ready_at else "Creating"

    @property
    def paused(self) -> bool:
        return self.properties.get("deploymentState") == "Paused"


class Deployments:
    def __init__(self, db: Database, clock: Clock) -> None:
        self.db, self.clock = db, clock
        db.ensure_schema(SCHEMA)
        if not db.has_column("deployments", "model_name"):  # a data dir of an emulator before the column
            db.execute("ALTER TABLE deployments ADD COLUMN model_name TEXT NOT NULL DEFAULT ''")
            db.execute("UPDATE deployments SET model_name=coalesce(json_extract(properties, '$.model.name'), '')")
        self._found: ReadCache[Deployment | None] = ReadCache(db)

    def get(self, account: str, name: str) -> Deployment | None:
        row = self.db.query_one(
            "SELECT * FROM deployments WHERE lower(account)=lower(?) AND name=?", (account, name)
        )
        return _row(row) if row else None

    def lookup(self, account: str, name: str) -> Deployment | None:
        """`get` for every chat request: the same answer, kept until the next database write, and shared between
        callers (read it, never modify it)."""
        return self._found.get((account, name), lambda: self.get(account, name))

    def list(self, account: str) -> list[Deployment]:
        rows = self.db.query("SELECT * FROM deployments WHERE lower(account)=lower(?) ORDER BY name", (account,))
        return [_row(r) for r in rows]

    def put(self, deployment: Deployment) -> Deployment:
        self.db.execute(
            "INSERT OR REPLACE INTO deployments (account,name,sku,properties,tags,created_at,ready_at,model_name) "
            "VALUES (?,?,?,?,?,?,?,?)",
            (deployment.account, deployment.name, to_json(deployment.sku), to_json(deployment.properties),
             to_json(deployment.tags), deployment.created_at, deployment.ready_at, deployment.model_name),
        )
        return deployment

    def using_model(self, model: str) -> list[str]:
        """`account/name` of every deployment (on any account) that serves `model`."""
        rows = self.db.query("SELECT * FROM deployments WHERE model_name=? ORDER BY rowid", (model,))
        return [f"{r['account']}/{r['name']}" for r in rows]

    def delete(self, account: str, name: str) -> bool:
        cur = self.db.execute("DELETE FROM deployments WHERE lower(account)=lower(?) AND name=?", (account, name))
        return cur.rowcount > 0

    def delete_account(self, account: str) -> None:
        self.db.execute("DELETE FROM deployments WHERE lower(account)=lower(?)", (account,))


def _row(row: Any) -> Deployment:
    return Deployment(
        account=row["account"], name=row["name"], sku=from_json(row["sku"]),
        properties=from_json(row["properties"]), tags=from_json(row["tags"]),
        created_at=row["created_at"], ready_at=row["ready_at"],
    )

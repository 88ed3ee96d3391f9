"""Resource groups (and the subscription itself): enough of `Microsoft.Resources` for a stack to create the
group its account lives in, and for deleting the group to take the account with it."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

from fastapi.responses import Response

from pipeline.emulator.arm_common import ArmContext, json_response, no_content, normalize_location
from pipeline.emulator.db import Database, from_json, to_json
from pipeline.emulator.errors import AzureError

SCHEMA = """
CREATE TABLE IF NOT EXISTS resource_groups (
    subscription_id TEXT NOT NULL,
    name TEXT NOT NULL COLLATE NOCASE,
    location TEXT NOT NULL,
    tags TEXT NOT NULL,
    created_at REAL NOT NULL,
    PRIMARY KEY (subscription_id, name)
);
"""


@dataclass
class ResourceGroup:
    subscription_id: str
    name: str
    location: str
    tags: dict[str, str]
    created_at: float

    @property
    def arm_id(self) -> str:
        return f"/subscriptions/{self.subscription_id}/resourceGroups/{self.name}"

    def to_arm(self) -> dict[str, Any]:
        return {
            "id": self.arm_id, "name": self.name, "type": "Microsoft.Resources/resourceGroups",
            "location": self.location, "tags": self.tags, "properties": {"provisioningState": "Succeeded"},
        }


class ResourceGroups:
    def __init__(self, db: Database) -> None:
        self.db = db
        db.ensure_schema(SCHEMA)

    def get(self, subscription_id: str, name: str) -> ResourceGroup | None:
        row = self.db.query_one(
            "SELECT * FROM resource_groups WHERE subscription_id=? AND name=?", (subscription_id, name)
        )
        return _row(row) if row else None

    def require(self, subscription_id: str, name: str) -> ResourceGroup:
        group = self.get(subscription_id, name)
        if group is None:
            raise AzureError(
                404, "ResourceGroupNotFound",
                f"Resource group '{name}' could not be found. Create it first "
                f"(PUT /subscriptions/{subscription_id}/resourcegroups/{name}).",
            )
        return group

    def list(self, subscription_id: str) -> list[ResourceGroup]:
        rows = self.db.query("SELECT * FROM resource_groups WHERE subscription_id=? ORDER BY name", (subscription_id,))
        return [_row(r) for r in rows]

    def put(self, group: ResourceGroup) -> None:
        self.db.execute(
            "INSERT OR REPLACE INTO resource_groups VALUES (?,?,?,?,?)",
            (group.subscription_id, group.name, group.location, to_json(group.tags), group.created_at),
        )

    def delete(self, subscription_id: str, name: str) -> bool:
        cur = self.db.execute("DELETE FROM resource_groups WHERE subscription_id=? AND name=?", (subscription_id, name))
        return cur.rowcount > 0


def _row(row: Any) -> ResourceGroup:
    return ResourceGroup(row["subscription_id"], row["name"], row["location"], from_json(row["tags"]), row["created_at"])


class GroupHandlers:
    """`on_delete` hooks run before a group goes (the accounts plane soft-deletes the group's accounts)."""

    def __init__(self, groups: ResourceGroups) -> None:
        self.groups = groups
        self.on_delete: list[Callable[[ArmContext, ResourceGroup], None]] = []

    def get_subscription(self, ctx: ArmContext, sub: str) -> Response:
        return json_response({
            "id": f"/subscriptions/{sub}", "subscriptionId": sub, "tenantId": ctx.config.tenant_id,
            "displayName": "aoai-ft emulator", "state": "Enabled",
        })

    def list(self, ctx: ArmContext, sub: str) -> Response:
        return json_response({"value": [g.to_arm() for g in self.groups.list(sub)]})

    def put(self, ctx: ArmContext, sub: str, rg: str) -> Response:
        body = ctx.json_body()
        location = body.get("location")
        if not isinstance(location, str) or not location:
            raise AzureError(400, "LocationRequired", "The location property is required for this definition.")
        tags = body.get("tags") or {}
        existing = self.groups.get(sub, rg)
        if existing is not None and existing.location != normalize_location(location):
            raise AzureError(
                409, "InvalidResourceGroupLocation",
                f"Invalid resource group location '{location}'. The Resource group already exists in location "
                f"'{existing.location}'.",
            )
        group = ResourceGroup(sub, existing.name if existing else rg, normalize_location(location), tags,
                              existing.created_at if existing else ctx.now)
        self.groups.put(group)
        return json_response(group.to_arm(), status=200 if existing else 201)

    def get(self, ctx: ArmContext, sub: str, rg: str) -> Response:
        return json_response(self.groups.require(sub, rg).to_arm())

    def head(self, ctx: ArmContext, sub: str, rg: str) -> Response:
        return Response(status_code=204 if self.groups.get(sub, rg) else 404)

    def delete(self, ctx: ArmContext, sub: str, rg: str) -> Response:
        group = self.groups.get(sub, rg)
        if group is None:
            return no_content()
        for hook in self.on_delete:
            hook(ctx, group)
        self.groups.delete(sub, rg)
        return Response(status_code=200)

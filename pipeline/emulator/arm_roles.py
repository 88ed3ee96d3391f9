"""`Microsoft.Authorization` role assignments (and the built-in role definitions the stack assigns).

ARM's rules the stack must live with: the assignment name is a GUID chosen by the caller; re-using a name
for another principal or role is refused (`RoleAssignmentUpdateNotPermitted`) and assigning the same
(scope, role, principal) twice under different names is refused (`RoleAssignmentExists`). Role ids are
checked against the built-in roles below (GUIDs from the Azure built-in roles reference).
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote

from fastapi.responses import Response

from pipeline.emulator.arm_common import GUID, ArmContext, iso, json_response, no_content
from pipeline.emulator.db import Database
from pipeline.emulator.errors import AzureError

AUTH_PROVIDER = "Microsoft.Authorization"


@dataclass(frozen=True)
class BuiltInRole:
    guid: str
    role_name: str
    description: str
    actions: tuple[str, ...] = ()
    data_actions: tuple[str, ...] = ()


BUILT_IN_ROLES: dict[str, BuiltInRole] = {r.guid: r for r in (
    BuiltInRole("a001fd3d-188f-4b5d-821b-7da978bf7442", "Cognitive Services OpenAI Contributor",
                "Full access including the ability to fine-tune, deploy and generate text",
                ("Microsoft.CognitiveServices/*/read", "Microsoft.CognitiveServices/accounts/deployments/*"),
                ("Microsoft.CognitiveServices/accounts/OpenAI/*",)),
    BuiltInRole("5e0bd9bd-7b93-4f28-af87-19fc36ad61bd", "Cognitive Services OpenAI User",
                "Ability to view files, models, deployments. Readers can't make any changes. They can inference",
                ("Microsoft.CognitiveServices/*/read",),
                ("Microsoft.CognitiveServices/accounts/OpenAI/*/read",
                 "Microsoft.CognitiveServices/accounts/OpenAI/deployments/chat/completions/action")),
    BuiltInRole("25fbc0a9-bd7c-42a3-aa1a-3b75d497ee68", "Cognitive Services Contributor",
                "Lets you create, read, update, delete and manage keys of Cognitive Services.",
                ("Microsoft.CognitiveServices/*",)),
    BuiltInRole("bba48692-92b0-4667-a9ad-c31c7b334ac2", "Cognitive Services Usages Reader",
                "Minimal permission to view Cognitive Services usages.",
                ("Microsoft.CognitiveServices/locations/usages/read",)),
    BuiltInRole("a97b65f3-24c7-4388-baec-2e87135dc908", "Cognitive Services User",
                "Lets you read and list keys of Cognitive Services.",
                ("Microsoft.CognitiveServices/*/read", "Microsoft.CognitiveServices/accounts/listkeys/action"),
                ("Microsoft.CognitiveServices/*",)),
    BuiltInRole("8e3af657-a8ff-443c-a75c-2fe8c4bcb635", "Owner", "Grants full access to manage all resources.", ("*",)),
    BuiltInRole("b24988ac-6180-42a0-ab88-20f7382dd24c", "Contributor",
                "Grants full access to manage all resources, but does not allow you to assign roles.", ("*",)),
    BuiltInRole("acdd72a7-3385-48ef-bd42-f606fba81ae7", "Reader", "View all resources.", ("*/read",)),
)}

SCHEMA = """
CREATE TABLE IF NOT EXISTS role_assignments (
    name TEXT PRIMARY KEY COLLATE NOCASE,
    scope TEXT NOT NULL,
    role_guid TEXT NOT NULL,
    principal_id TEXT NOT NULL,
    principal_type TEXT,
    description TEXT,
    created_at REAL NOT NULL
);
"""
_ROLE_ID = re.compile(r"/providers/Microsoft\.Authorization/roleDefinitions/(?P<guid>[0-9a-fA-F-]{36})$", re.I)


def role_definition_id(subscription_id: str, guid: str) -> str:
    return f"/subscriptions/{subscription_id}/providers/{AUTH_PROVIDER}/roleDefinitions/{guid}"


def _same_scope(a: str, b: str) -> bool:
    return a.rstrip("/").lower() == b.rstrip("/").lower()


def covers(outer: str, inner: str) -> bool:
    """True when scope `outer` is `inner` or one of its parents (ARM ids compare case-insensitively)."""
    outer, inner = outer.rstrip("/").lower(), inner.rstrip("/").lower()
    return inner == outer or inner.startswith(outer + "/")


class RoleHandlers:
    def __init__(self, db: Database) -> None:
        self.db = db
        db.ensure_schema(SCHEMA)

    def _to_arm(self, ctx: ArmContext, row: Any) -> dict[str, Any]:
        sub = row["scope"].split("/")[2]
        return {
            "id": f"{row['scope']}/providers/{AUTH_PROVIDER}/roleAssignments/{row['name']}",
            "name": row["name"],
            "type": f"{AUTH_PROVIDER}/roleAssignments",
            "properties": {
                "roleDefinitionId": role_definition_id(sub, row["role_guid"]),
                "principalId": row["principal_id"],
                "principalType": row["principal_type"] or "User",
                "scope": row["scope"],
                "description": row["description"],
                "condition": None,
                "conditionVersion": None,
                "createdOn": iso(row["created_at"]),
                "updatedOn": iso(row["created_at"]),
                "createdBy": None,
                "updatedBy": None,
            },
        }

    def put(self, ctx: ArmContext, sub: str, scope: str, name: str) -> Response:
        scope = unquote(scope)
        if not GUID.match(name):
            raise AzureError(
                400, "InvalidRoleAssignmentId",
                f"The role assignment ID '{name}' is not valid. The role assignment ID must be a GUID "
                "(derive one deterministically, e.g. uuid5 of scope + principal + role, so re-runs are idempotent).",
            )
        body = ctx.json_body()
        props = body.get("properties") or {}
        role_id, principal = props.get("roleDefinitionId"), props.get("principalId")
        if not role_id or not principal:
            raise AzureError(
                400, "InvalidRequestContent",
                "properties.roleDefinitionId and properties.principalId are required.", target="properties",
            )
        match = _ROLE_ID.search(str(role_id))
        if match is None or match["guid"].lower() not in BUILT_IN_ROLES:
            raise AzureError(
                400, "RoleDefinitionDoesNotExist",
                f"The specified role definition with ID '{role_id}' does not exist. Use "
                "/subscriptions/{sub}/providers/Microsoft.Authorization/roleDefinitions/{guid} with a built-in role GUID.",
            )
        guid = match["guid"].lower()
        principal_type = props.get("principalType")
        if principal_type is not None and principal_type not in ("User", "Group", "ServicePrincipal", "ForeignGroup", "Device"):
            raise AzureError(400, "InvalidPrincipalType", f"The principal type '{principal_type}' is not valid.")
        existing = self.db.query_one("SELECT * FROM role_assignments WHERE name=?", (name,))
        if existing is not None:
            same = (_same_scope(existing["scope"], scope) and existing["role_guid"] == guid
                    and existing["principal_id"].lower() == str(principal).lower())
            if not same:
                raise AzureError(
                    409, "RoleAssignmentUpdateNotPermitted",
                    "Tenant ID, application ID, principal ID, and scope are not allowed to be updated. "
                    f"(role assignment '{name}' already grants another role/principal; delete it or use a new name)",
                )
            return json_response(self._to_arm(ctx, existing), status=201)
        for row in self.db.query("SELECT * FROM role_assignments WHERE role_guid=? AND lower(principal_id)=lower(?)",
                                 (guid, str(principal))):
            if _same_scope(row["scope"], scope):
                raise AzureError(
                    409, "RoleAssignmentExists",
                    f"The role assignment already exists (as '{row['name']}'). Re-use that name or delete it first.",
                )
        self.db.execute(
            "INSERT INTO role_assignments VALUES (?,?,?,?,?,?,?)",
            (name, scope.rstrip("/"), guid, str(principal), principal_type, props.get("description"), ctx.now),
        )
        row = self.db.query_one("SELECT * FROM role_assignments WHERE name=?", (name,))
        return json_response(self._to_arm(ctx, row), status=201)

    def _require(self, scope: str, name: str) -> Any:
        row = self.db.query_one("SELECT * FROM role_assignments WHERE name=?", (name,))
        if row is None or not _same_scope(row["scope"], unquote(scope)):
            raise AzureError(404, "RoleAssignmentNotFound", f"The role assignment '{name}' is not found.")
        return row

    def get(self, ctx: ArmContext, sub: str, scope: str, name: str) -> Response:
        return json_response(self._to_arm(ctx, self._require(scope, name)))

    def delete(self, ctx: ArmContext, sub: str, scope: str, name: str) -> Response:
        try:
            row = self._require(scope, name)
        except AzureError:
            return no_content()
        self.db.execute("DELETE FROM role_assignments WHERE name=?", (name,))
        return json_response(self._to_arm(ctx, row))

    def list(self, ctx: ArmContext, sub: str, scope: str) -> Response:
        """Assignments at, above and below the scope (ARM's default); `$filter=atScope()` keeps at/above,
        `$filter=principalId eq '<id>'` filters by principal."""
        scope = unquote(scope)
        flt = ctx.request.query_params.get("$filter", "")
        principal = re.search(r"principalId\s+eq\s+'([^']+)'", flt, re.I)
        at_scope = "atscope()" in flt.replace(" ", "").lower()
        rows = self.db.query("SELECT * FROM role_assignments ORDER BY created_at, name")
        picked = [
            r for r in rows
            if (covers(r["scope"], scope) or (not at_scope and covers(scope, r["scope"])))
            and (principal is None or r["principal_id"].lower() == principal[1].lower())
        ]
        return json_response({"value": [self._to_arm(ctx, r) for r in picked]})

    def delete_under(self, scope: str) -> None:
        """Assignments scoped at or below a deleted resource go with it."""
        for row in self.db.query("SELECT name, scope FROM role_assignments"):
            if covers(scope, row["scope"]):
                self.db.execute("DELETE FROM role_assignments WHERE name=?", (row["name"],))

    def get_definition(self, ctx: ArmContext, sub: str, scope: str, guid: str) -> Response:
        role = BUILT_IN_ROLES.get(guid.lower())
        if role is None:
            raise AzureError(404, "RoleDefinitionDoesNotExist",
                             f"The specified role definition with ID '{guid}' does not exist.")
        return json_response({
            "id": role_definition_id(sub, role.guid),
            "name": role.guid,
            "type": f"{AUTH_PROVIDER}/roleDefinitions",
            "properties": {
                "roleName": role.role_name,
                "type": "BuiltInRole",
                "description": role.description,
                "assignableScopes": ["/"],
                "permissions": [{"actions": list(role.actions), "notActions": [],
                                 "dataActions": list(role.data_actions), "notDataActions": []}],
            },
        })

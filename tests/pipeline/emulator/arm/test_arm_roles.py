"""Role assignments the way the stack makes them (PUT with a caller-chosen GUID), and ARM's refusals."""
from __future__ import annotations

import uuid

import pytest

OPENAI_USER = "5e0bd9bd-7b93-4f28-af87-19fc36ad61bd"
OPENAI_CONTRIBUTOR = "a001fd3d-188f-4b5d-821b-7da978bf7442"
PRINCIPAL = "7f7d4a8c-0000-4000-8000-000000000001"


@pytest.fixture
def scope(arm, account_url, account_body) -> str:
    arm.put(account_url("ft-rbac"), json=account_body("ft-rbac"))
    return account_url("ft-rbac")


def role_id(sub: str, guid: str) -> str:
    return f"/subscriptions/{sub}/providers/Microsoft.Authorization/roleDefinitions/{guid}"


def assignment(sub: str, role: str = OPENAI_USER, principal: str = PRINCIPAL) -> dict:
    return {"properties": {"roleDefinitionId": role_id(sub, role), "principalId": principal,
                           "principalType": "ServicePrincipal"}}


def test_put_get_list_delete(arm, sub, rg, scope):
    name = str(uuid.uuid5(uuid.NAMESPACE_URL, scope + PRINCIPAL + OPENAI_USER))
    url = f"{scope}/providers/Microsoft.Authorization/roleAssignments/{name}"

    created = arm.put(url, json=assignment(sub))
    assert created.status_code == 201
    body = created.json()
    assert body["name"] == name and body["type"] == "Microsoft.Authorization/roleAssignments"
    assert body["id"] == url
    assert body["properties"]["scope"] == scope
    assert body["properties"]["roleDefinitionId"] == role_id(sub, OPENAI_USER)
    assert body["properties"]["principalType"] == "ServicePrincipal"

    assert arm.put(url, json=assignment(sub)).status_code == 201  # idempotent re-run
    assert arm.get(url).json() == body
    listed = arm.get(f"{scope}/providers/Microsoft.Authorization/roleAssignments").json()["value"]
    assert [a["name"] for a in listed] == [name]
    from_group = arm.get(f"/subscriptions/{sub}/resourceGroups/{rg}/providers/Microsoft.Authorization/roleAssignments",
                         params={"$filter": f"principalId eq '{PRINCIPAL}'"}).json()["value"]
    assert [a["name"] for a in from_group] == [name]
    at_scope = arm.get(f"/subscriptions/{sub}/resourceGroups/{rg}/providers/Microsoft.Authorization/roleAssignments",
                       params={"$filter": "atScope()"}).json()["value"]
    assert at_scope == []

    assert arm.delete(url).status_code == 200
    assert arm.get(url).status_code == 404
    assert arm.get(url).json()["error"]["code"] == "RoleAssignmentNotFound"
    assert arm.delete(url).status_code == 204


def test_name_must_be_a_guid(arm, sub, scope):
    response = arm.put(f"{scope}/providers/Microsoft.Authorization/roleAssignments/not-a-guid", json=assignment(sub))
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "InvalidRoleAssignmentId"


def test_same_name_for_another_principal_or_role_is_refused(arm, sub, scope):
    url = f"{scope}/providers/Microsoft.Authorization/roleAssignments/{uuid.uuid4()}"
    arm.put(url, json=assignment(sub))
    for changed in (assignment(sub, role=OPENAI_CONTRIBUTOR), assignment(sub, principal=str(uuid.uuid4()))):
        response = arm.put(url, json=changed)
        assert response.status_code == 409
        assert response.json()["error"]["code"] == "RoleAssignmentUpdateNotPermitted"


def test_same_triple_under_a_new_name_is_refused(arm, sub, scope):
    arm.put(f"{scope}/providers/Microsoft.Authorization/roleAssignments/{uuid.uuid4()}", json=assignment(sub))
    response = arm.put(f"{scope}/providers/Microsoft.Authorization/roleAssignments/{uuid.uuid4()}",
                       json=assignment(sub))
    assert response.status_code == 409
    assert response.json()["error"]["code"] == "RoleAssignmentExists"
    other_role = arm.put(f"{scope}/providers/Microsoft.Authorization/roleAssignments/{uuid.uuid4()}",
                         json=assignment(sub, role=OPENAI_CONTRIBUTOR))
    assert other_role.status_code == 201


def test_unknown_role_and_missing_fields(arm, sub, scope):
    url = f"{scope}/providers/Microsoft.Authorization/roleAssignments/{uuid.uuid4()}"
    unknown = arm.put(url, json=assignment(sub, role=str(uuid.uuid4())))
    assert unknown.status_code == 400 and unknown.json()["error"]["code"] == "RoleDefinitionDoesNotExist"
    missing = arm.put(url, json={"properties": {"principalId": PRINCIPAL}})
    assert missing.status_code == 400 and "roleDefinitionId" in missing.json()["error"]["message"]


def test_assignments_under_a_deleted_group_go_with_it(arm, sub, account_body):
    group = f"/subscriptions/{sub}/resourceGroups/rg-temp"
    arm.put(group, json={"location": "eastus"})
    url = f"{group}/providers/Microsoft.Authorization/roleAssignments/{uuid.uuid4()}"
    assert arm.put(url, json=assignment(sub)).status_code == 201
    arm.delete(group)
    assert arm.get(url).status_code == 404


@pytest.mark.parametrize(("guid", "name"), [
    (OPENAI_USER, "Cognitive Services OpenAI User"),
    (OPENAI_CONTRIBUTOR, "Cognitive Services OpenAI Contributor"),
    ("25fbc0a9-bd7c-42a3-aa1a-3b75d497ee68", "Cognitive Services Contributor"),
    ("bba48692-92b0-4667-a9ad-c31c7b334ac2", "Cognitive Services Usages Reader"),
])
def test_role_definitions(arm, sub, guid, name):
    body = arm.get(role_id(sub, guid)).json()
    assert body["name"] == guid and body["properties"]["roleName"] == name
    assert body["properties"]["type"] == "BuiltInRole"
    assert arm.get(role_id(sub, str(uuid.uuid4()))).status_code == 404

"""Pure naming and role-table functions (no Pulumi)."""
from __future__ import annotations

import re
import uuid

import pytest

from infra import naming

SUB = "11111111-2222-3333-4444-555555555555"


def test_role_table_matches_the_reference() -> None:
    table = {grant.display_name: (grant.role_guid, grant.scope) for grant in naming.ROLE_GRANTS}
    assert table == {
        "Cognitive Services OpenAI Contributor": ("a001fd3d-188f-4b5d-821b-7da978bf7442", "account"),
        "Cognitive Services OpenAI User": ("5e0bd9bd-7b93-4f28-af87-19fc36ad61bd", "account"),
        "Cognitive Services Contributor": ("25fbc0a9-bd7c-42a3-aa1a-3b75d497ee68", "account"),
        "Cognitive Services Usages Reader": ("bba48692-92b0-4667-a9ad-c31c7b334ac2", "subscription"),
    }


def test_account_name_is_stable_unique_and_valid() -> None:
    args = dict(subscription_id=SUB, resource_group="rg-a", stack="dev", location="northcentralus")
    name = naming.account_name("aoai-ft", **args)
    assert name == naming.account_name("aoai-ft", **{**args, "subscription_id": SUB.upper()})  # ids are case-insensitive
    assert re.fullmatch(r"aoai-ft-[0-9a-f]{8}", name)
    variants = {naming.account_name("aoai-ft", **{**args, key: "other"}) for key in args}
    assert len(variants | {name}) == 5  # every input changes the name
    assert naming.custom_subdomain(name) == name
    assert naming.endpoint_for(name) == f"https://{name}.openai.azure.com/"


@pytest.mark.parametrize("prefix", ["", "a", "Aoai", "9lives", "ends-", "under_score", "x" * 41])
def test_bad_prefix_is_refused(prefix: str) -> None:
    with pytest.raises(ValueError, match="prefix"):
        naming.account_name(prefix, subscription_id=SUB, resource_group="rg", stack="dev", location="eastus")


def test_role_assignment_name_is_uuid5_of_scope_principal_role() -> None:
    scope = naming.account_resource_id(SUB, "rg-a", "acct")
    name = naming.role_assignment_name(scope, "PRINCIPAL", naming.OPENAI_USER.role_guid)
    assert uuid.UUID(name).version == 5
    assert name == naming.role_assignment_name(scope.upper() + "/", "principal", naming.OPENAI_USER.role_guid.upper())
    others = {
        naming.role_assignment_name(naming.subscription_scope(SUB), "principal", naming.OPENAI_USER.role_guid),
        naming.role_assignment_name(scope, "someone-else", naming.OPENAI_USER.role_guid),
        naming.role_assignment_name(scope, "principal", naming.OPENAI_CONTRIBUTOR.role_guid),
    }
    assert name not in others and len(others) == 3


def test_ids_and_group_name() -> None:
    assert naming.role_definition_id(SUB, "abc") == f"/subscriptions/{SUB}/providers/Microsoft.Authorization/roleDefinitions/abc"
    assert naming.resource_group_name("aoai-ft", "My_Stack.v2") == "rg-aoai-ft-my-stack-v2"

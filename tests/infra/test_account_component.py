"""The OpenAIAccount component on its own (as the prod stack and later issues reuse it), under Pulumi mocks."""
from __future__ import annotations

from typing import Any

import pulumi

from infra import naming
from infra.account import COMPONENT_TYPE, OpenAIAccount, OpenAIAccountArgs
from tests.infra.pulumi_harness import SUBSCRIPTION, RecordingMocks, registered_resources, reset_pulumi, resolve

PRINCIPAL = "12345678-1234-1234-1234-123456789abc"


class RestoringMocks(RecordingMocks):
    """The soft-delete guard found our name soft-deleted with purging off."""

    def new_resource(self, args: pulumi.runtime.MockResourceArgs) -> tuple[str, dict[str, Any]]:
        resource_id, outputs = super().new_resource(args)
        if args.typ.startswith("pulumi-python:dynamic"):
            outputs["restore"] = True
        return resource_id, outputs


def _build(mocks: RecordingMocks, **overrides: Any) -> OpenAIAccount:
    reset_pulumi(mocks, {}, stack="prod")
    args = OpenAIAccountArgs(
        subscription_id=SUBSCRIPTION,
        resource_group_name="rg-shared",
        location="swedencentral",
        account_name="aoai-ft-prod-0000aaaa",
        principal_id=PRINCIPAL,
        principal_type="Group",
        **overrides,
    )
    holder: dict[str, OpenAIAccount] = {}

    def program() -> pulumi.Output:
        holder["account"] = OpenAIAccount("prod", args)
        return holder["account"].endpoint

    pulumi.runtime.test(program)()
    return holder["account"]


def test_keyless_private_component() -> None:
    mocks = RecordingMocks()
    component = _build(mocks, disable_local_auth=True, public_network_access="Disabled")
    assert component.api_key is None
    assert mocks.invoked("azure-native:cognitiveservices:listAccountKeys") == []
    (account,) = mocks.of_type("azure-native:cognitiveservices:Account")
    props = account.inputs["properties"]
    assert props["disableLocalAuth"] is True and props["publicNetworkAccess"] == "Disabled"
    assert props["customSubDomainName"] == "aoai-ft-prod-0000aaaa"
    assert resolve(component.endpoint) == ("https://aoai-ft-prod-0000aaaa.openai.azure.com/", False)
    urns = registered_resources()
    assert f"urn:pulumi:prod::aoai-finetune::pulumi:pulumi:Stack${COMPONENT_TYPE}::prod" in urns
    assert sum(1 for urn in urns if urn.startswith(f"urn:pulumi:prod::aoai-finetune::{COMPONENT_TYPE}$")) == 6
    roles = mocks.of_type("azure-native:authorization:RoleAssignment")
    assert {r.inputs["principalType"] for r in roles} == {"Group"}


def test_key_is_a_secret_when_local_auth_is_on() -> None:
    mocks = RecordingMocks()
    component = _build(mocks)
    assert resolve(component.api_key) == ("mock-key-1", True)


def test_restore_is_sent_only_when_the_guard_asks_for_it() -> None:
    mocks = RestoringMocks()
    _build(mocks, purge_on_destroy=False)
    (guard,) = [r for r in mocks.resources if r.typ.startswith("pulumi-python:dynamic")]
    assert guard.inputs["purge_on_destroy"] is False
    assert guard.inputs["account_name"] == "aoai-ft-prod-0000aaaa"
    (account,) = mocks.of_type("azure-native:cognitiveservices:Account")
    assert account.inputs["properties"]["restore"] is True


def test_custom_role_set() -> None:
    mocks = RecordingMocks()
    _build(mocks, role_grants=(naming.OPENAI_USER,))
    (role,) = mocks.of_type("azure-native:authorization:RoleAssignment")
    assert role.inputs["roleDefinitionId"].endswith(naming.OPENAI_USER.role_guid)

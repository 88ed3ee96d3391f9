"""The real infra/__main__.py, run under Pulumi mocks with the real Pulumi.yaml + Pulumi.dev.yaml."""
from __future__ import annotations

import pulumi
import pytest

from infra import naming
from pipeline import envnames
from tests.infra.pulumi_harness import (
    PROJECT,
    RUNNER_OBJECT_ID,
    SUBSCRIPTION,
    RecordingMocks,
    run_program,
    shared_run,
    stack_config,
)

ACCOUNT = "azure-native:cognitiveservices:Account"
ROLE = "azure-native:authorization:RoleAssignment"
GROUP = "azure-native:resources:ResourceGroup"
COMPONENT = "aoai-finetune:index:OpenAIAccount"
KEYS = "azure-native:cognitiveservices:listAccountKeys"


@pytest.fixture
def dev_run():
    """One run of the dev stack (per test process) shared by the read-only assertions below."""
    return shared_run(stack_config("dev")).run


def test_dev_account_matches_the_lab(dev_run) -> None:
    (account,) = dev_run.mocks.of_type(ACCOUNT)
    inputs = account.inputs
    assert inputs["kind"] == "OpenAI"
    assert inputs["sku"] == {"name": "S0"}
    assert inputs["location"] == "northcentralus"
    name = inputs["accountName"]
    assert name == naming.account_name(
        "aoai-finetune", subscription_id=SUBSCRIPTION, resource_group="rg-aoai-finetune-dev", stack="dev",
        location="northcentralus",
    )
    props = inputs["properties"]
    assert props["customSubDomainName"] == name  # always set: Entra ID tokens need it
    assert props["disableLocalAuth"] is False
    assert props["publicNetworkAccess"] == "Enabled"
    assert props["networkAcls"] == {"defaultAction": "Allow", "ipRules": []}
    assert "restore" not in props  # only sent when recovering a soft-deleted account
    assert inputs["tags"] == {"env": "dev", "source": "azure-openai-finetune-lab"}


def test_children_are_parented_to_the_component(dev_run) -> None:
    component_urn = dev_run.urn_of(COMPONENT, "openai")
    assert component_urn.startswith(f"urn:pulumi:dev::{PROJECT}::")
    child_prefix = f"urn:pulumi:dev::{PROJECT}::{COMPONENT}$"
    assert dev_run.urn_of(ACCOUNT, "openai").startswith(child_prefix)
    for grant in naming.ROLE_GRANTS:
        assert dev_run.urn_of(ROLE, f"openai-{grant.key}").startswith(child_prefix)
    assert dev_run.urn_of("pulumi-python:dynamic/aoai-finetune:AccountSoftDelete", "openai-soft-delete").startswith(child_prefix)
    # the group is a top-level resource, not part of the reusable component
    assert dev_run.urn_of(GROUP, "resource-group") == (
        f"urn:pulumi:dev::{PROJECT}::pulumi:pulumi:Stack${GROUP}::resource-group"
    )


def test_four_role_assignments_with_deterministic_names(dev_run) -> None:
    (account,) = dev_run.mocks.of_type(ACCOUNT)
    account_id = naming.account_resource_id(SUBSCRIPTION, "rg-aoai-finetune-dev", account.inputs["accountName"])
    roles = {r.name: r.inputs for r in dev_run.mocks.of_type(ROLE)}
    expected = {
        "openai-openai-contributor": ("a001fd3d-188f-4b5d-821b-7da978bf7442", account_id),
        "openai-openai-user": ("5e0bd9bd-7b93-4f28-af87-19fc36ad61bd", account_id),
        "openai-cs-contributor": ("25fbc0a9-bd7c-42a3-aa1a-3b75d497ee68", account_id),
        "openai-usages-reader": ("bba48692-92b0-4667-a9ad-c31c7b334ac2", f"/subscriptions/{SUBSCRIPTION}"),
    }
    assert set(roles) == set(expected)
    for name, (guid, scope) in expected.items():
        inputs = roles[name]
        assert inputs["roleDefinitionId"] == (
            f"/subscriptions/{SUBSCRIPTION}/providers/Microsoft.Authorization/roleDefinitions/{guid}"
        )
        assert inputs["scope"] == scope
        assert inputs["principalId"] == RUNNER_OBJECT_ID  # principalId empty -> whoever runs pulumi
        assert inputs["principalType"] == "User"  # sent explicitly
        assert inputs["roleAssignmentName"] == naming.role_assignment_name(scope, RUNNER_OBJECT_ID, guid)
    assert len({inputs["roleAssignmentName"] for inputs in roles.values()}) == 4


def test_outputs_are_named_like_the_env_vars_and_the_key_is_secret(dev_run) -> None:
    (account,) = dev_run.mocks.of_type(ACCOUNT)
    name = account.inputs["accountName"]
    account_outputs = {
        envnames.AZURE_OPENAI_ENDPOINT: f"https://{name}.openai.azure.com/",
        envnames.AZURE_OPENAI_API_KEY: "mock-key-1",
        envnames.AZURE_OPENAI_RESOURCE_NAME: name,
        envnames.AZURE_OPENAI_ACCOUNT_ID: naming.account_resource_id(SUBSCRIPTION, "rg-aoai-finetune-dev", name),
        envnames.AZURE_RESOURCE_GROUP: "rg-aoai-finetune-dev",
        envnames.AZURE_SUBSCRIPTION_ID: SUBSCRIPTION,
    }
    # The fine-tuning part's outputs are asserted with their values in test_training_program.py.
    training_outputs = {envnames.AZURE_OPENAI_DEPLOYMENT, envnames.FINE_TUNED_MODEL, envnames.DEPLOYED_MODEL,
                        envnames.FINE_TUNING_JOB_ID, envnames.SMOKE_TEST_ANSWER, envnames.EVAL_PASS_RATE, envnames.EVAL_BASE_PASS_RATE,
                        envnames.EVAL_RUN_ID}
    assert {k: v for k, v in dev_run.outputs.items() if k not in training_outputs} == account_outputs
    assert set(dev_run.outputs) == set(account_outputs) | training_outputs
    assert dev_run.secret_outputs == {envnames.AZURE_OPENAI_API_KEY}
    (keys_call,) = dev_run.mocks.invoked(KEYS)
    assert keys_call.args == {"accountName": name, "resourceGroupName": "rg-aoai-finetune-dev"}


def test_dev_creates_its_resource_group(dev_run) -> None:
    (group,) = dev_run.mocks.of_type(GROUP)
    assert group.inputs["resourceGroupName"] == "rg-aoai-finetune-dev"
    assert group.inputs["location"] == "northcentralus"


def test_keyless_mode_never_reads_or_exports_a_key() -> None:
    run = run_program(stack_config("dev", {"disableLocalAuth": True}))
    (account,) = run.mocks.of_type(ACCOUNT)
    assert account.inputs["properties"]["disableLocalAuth"] is True
    assert run.mocks.invoked(KEYS) == []
    assert envnames.AZURE_OPENAI_API_KEY not in run.outputs
    assert run.secret_outputs == set()


def test_existing_resource_group_creates_no_group() -> None:
    run = run_program(stack_config("dev", {"resourceGroupName": "ResourceGroup1"}))
    assert run.mocks.of_type(GROUP) == []
    (account,) = run.mocks.of_type(ACCOUNT)
    assert account.inputs["resourceGroupName"] == "ResourceGroup1"
    assert run.outputs[envnames.AZURE_RESOURCE_GROUP] == "ResourceGroup1"
    for role in run.mocks.of_type(ROLE):
        if role.name != "openai-usages-reader":
            assert "/resourceGroups/ResourceGroup1/" in role.inputs["scope"]


def test_explicit_principal_and_network_rules() -> None:
    principal = "AAAAAAAA-BBBB-CCCC-DDDD-EEEEEEEEEEEE"
    run = run_program(
        stack_config(
            "dev",
            {
                "principalId": principal,
                "principalType": "ServicePrincipal",
                "allowedIpRanges": ["203.0.113.7", "198.51.100.0/24"],
            },
        )
    )
    for role in run.mocks.of_type(ROLE):
        assert role.inputs["principalId"] == principal.lower()
        assert role.inputs["principalType"] == "ServicePrincipal"
    (account,) = run.mocks.of_type(ACCOUNT)
    assert account.inputs["properties"]["networkAcls"] == {
        "defaultAction": "Deny",
        "ipRules": [{"value": "203.0.113.7"}, {"value": "198.51.100.0/24"}],
    }


def test_names_are_stable_across_runs_and_differ_between_stacks() -> None:
    first = run_program(stack_config("dev"))
    again = run_program(stack_config("dev"))
    other = run_program(stack_config("dev"), stack="test")
    name = lambda run: run.mocks.of_type(ACCOUNT)[0].inputs["accountName"]  # noqa: E731
    roles = lambda run: {r.name: r.inputs["roleAssignmentName"] for r in run.mocks.of_type(ROLE)}  # noqa: E731
    assert name(first) == name(again) and roles(first) == roles(again)
    assert name(first) != name(other)
    for key, assignment in roles(first).items():
        if key == "openai-usages-reader":
            # same subscription, principal and role: Azure allows one such assignment, so the name is shared too
            assert roles(other)[key] == assignment
        else:
            assert roles(other)[key] != assignment


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("principalType", "Robot"),
        ("location", "north central us!"),
        ("suffix", "has spaces"),
        ("deploymentCapacity", "0"),
        ("principalId", "not-a-guid"),
    ],
)
def test_bad_config_stops_before_any_resource(key: str, value: str) -> None:
    mocks = RecordingMocks()
    with pytest.raises(pulumi.RunError) as info:
        run_program(stack_config("dev", {key: value}), mocks)
    assert f"{PROJECT}:{key}" in str(info.value)
    assert "pulumi config set" in str(info.value)
    assert mocks.resources == []
    assert mocks.calls == []


def test_program_runs_from_a_fresh_clone_without_install() -> None:
    """The sys.path guard in infra/__main__.py: no `pip install -e .`, cwd = infra/, absolute imports still work."""
    import json
    import subprocess
    import sys

    from tests.infra.pulumi_harness import ROOT

    result = subprocess.run(
        [sys.executable, str(ROOT / "tests" / "infra" / "fresh_clone_run.py"), str(ROOT)],
        input=json.dumps(stack_config("dev")),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert json.loads(result.stdout.strip().splitlines()[-1]) == sorted(
        [
            envnames.AZURE_OPENAI_ENDPOINT,
            envnames.AZURE_OPENAI_API_KEY,
            envnames.AZURE_OPENAI_RESOURCE_NAME,
            envnames.AZURE_OPENAI_ACCOUNT_ID,
            envnames.AZURE_RESOURCE_GROUP,
            envnames.AZURE_SUBSCRIPTION_ID,
            envnames.AZURE_OPENAI_DEPLOYMENT,
            envnames.FINE_TUNED_MODEL,
            envnames.DEPLOYED_MODEL,
            envnames.FINE_TUNING_JOB_ID,
            envnames.SMOKE_TEST_ANSWER,
            envnames.EVAL_PASS_RATE,
            envnames.EVAL_BASE_PASS_RATE,
            envnames.EVAL_RUN_ID,
        ]
    )

"""principalType and the runner's own roles: decided before any resource, from what azure-native signs in with."""
from __future__ import annotations

from typing import Any

from pathlib import Path

import pulumi
import pytest
import yaml

from infra import naming
from infra.identity import AZURE_CLI_APP_ID, resolve_principal_type, runner_role_grants, runner_type
from infra.settings import StackConfigError, StackSettings
from tests.infra.pulumi_harness import ROOT, RUNNER_OBJECT_ID, RecordingMocks, run_program, stack_config

ROLE = "azure-native:authorization:RoleAssignment"
GROUP_ID = "6e0e0000-0000-4000-8000-00000000beef"
ARM_VARIABLES = ("ARM_CLIENT_SECRET", "ARM_CLIENT_CERTIFICATE_PATH", "ARM_USE_OIDC", "ARM_USE_MSI",
                 "ARM_USE_DEFAULT_AZURE_CREDENTIAL", "ARM_OIDC_TOKEN")


@pytest.fixture(autouse=True)
def no_arm_variables(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ARM_VARIABLES:
        monkeypatch.delenv(name, raising=False)


def test_runner_type_from_arm_variables_provider_config_and_client_id() -> None:
    assert runner_type(AZURE_CLI_APP_ID, {}).principal_type == "User"
    oidc = runner_type(AZURE_CLI_APP_ID, {"ARM_USE_OIDC": "true"})
    assert oidc.principal_type == "ServicePrincipal" and "ARM_USE_OIDC" in oidc.reason
    assert runner_type(AZURE_CLI_APP_ID, {}, {"useMsi": "true"}).principal_type == "ServicePrincipal"
    assert runner_type("1b2c3d4e-0000-4000-8000-000000000001", {}).principal_type == "ServicePrincipal"
    assert runner_type("", {}).principal_type is None
    with pytest.raises(StackConfigError, match="ARM_USE_MSI"):
        runner_type(AZURE_CLI_APP_ID, {"ARM_USE_MSI": "yes"})


def settings(**values: object) -> StackSettings:
    return StackSettings.model_validate(values)


def test_resolve_principal_type() -> None:
    sp = runner_type("", {"ARM_CLIENT_SECRET": "s"})
    user = runner_type(AZURE_CLI_APP_ID, {})
    assert resolve_principal_type(settings(), sp) == "ServicePrincipal"
    assert resolve_principal_type(settings(), user) == "User"
    assert resolve_principal_type(settings(principalId=GROUP_ID, principalType="Group"), sp) == "Group"
    with pytest.raises(StackConfigError, match="principalType is User .* runs as a ServicePrincipal") as info:
        resolve_principal_type(settings(principalType="User"), sp)
    assert "pulumi config set aoai-finetune:principalType ''" in str(info.value)
    with pytest.raises(StackConfigError, match="never a group"):
        resolve_principal_type(settings(principalType="Group"), user)
    with pytest.raises(StackConfigError, match="cannot tell"):
        resolve_principal_type(settings(principalId=GROUP_ID), user)


def test_runner_grants_only_for_keyless_steps() -> None:
    assert runner_role_grants(settings()) == ()
    assert runner_role_grants(settings(disableLocalAuth=True)) == (naming.OPENAI_CONTRIBUTOR,)
    promote = dict(mode="promote", sourceStack="o/p/dev", disableLocalAuth=True)
    assert runner_role_grants(settings(**promote)) == (naming.OPENAI_USER,)


def test_ci_service_principal_with_user_type_stops_before_any_resource(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ARM_USE_OIDC", "true")
    mocks = RecordingMocks()
    with pytest.raises(pulumi.RunError, match="principalType is User"):
        run_program(stack_config("dev", {"principalType": "User"}), mocks)
    assert mocks.resources == []


def test_dev_stack_in_the_deploy_workflow_assigns_service_principal(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ARM_USE_OIDC", "true")
    run = run_program(stack_config("dev"))
    roles = run.mocks.of_type(ROLE)
    assert len(roles) == 4 and {r.inputs["principalType"] for r in roles} == {"ServicePrincipal"}


def test_prod_gives_the_runner_openai_user_for_the_smoke_test(monkeypatch: pytest.MonkeyPatch) -> None:
    from pulumi.runtime import mocks as pulumi_mocks

    monkeypatch.setenv("ARM_USE_OIDC", "true")
    requests: list[Any] = []
    original = pulumi_mocks.MockMonitor.RegisterResource
    monkeypatch.setattr(pulumi_mocks.MockMonitor, "RegisterResource",
                        lambda self, request: (requests.append(request), original(self, request))[1])
    run = run_program(stack_config("prod", stack_file=ROOT / "Pulumi.prod.yaml.example"), stack="prod")
    roles = {r.name: r.inputs for r in run.mocks.of_type(ROLE)}
    runner = roles.pop("openai-runner-openai-user")
    assert runner["principalId"] == RUNNER_OBJECT_ID and runner["principalType"] == "ServicePrincipal"
    assert runner["roleDefinitionId"].endswith(naming.OPENAI_USER.role_guid)
    assert runner["scope"].endswith("/providers/Microsoft.CognitiveServices/accounts/" + runner["scope"].rsplit("/", 1)[-1])
    assert runner["roleAssignmentName"] == naming.role_assignment_name(runner["scope"], RUNNER_OBJECT_ID,
                                                                       naming.OPENAI_USER.role_guid)
    assert {r["principalType"] for r in roles.values()} == {"Group"} and len(roles) == 4
    # the smoke test asks as the runner: only after the runner's role exists
    (smoke,) = [r for r in requests if r.type == "pulumi-python:dynamic/aoai-finetune:SmokeTest"]
    assert run.urn_of(ROLE, "openai-runner-openai-user") in smoke.dependencies


def test_keyless_training_gives_the_runner_openai_contributor() -> None:
    run = run_program(stack_config("dev", {"principalId": GROUP_ID, "principalType": "Group",
                                           "disableLocalAuth": True}))
    runner = [r for r in run.mocks.of_type(ROLE) if r.inputs["principalId"] == RUNNER_OBJECT_ID]
    assert [r.name for r in runner] == ["openai-runner-openai-contributor"]
    assert runner[0].inputs["principalType"] == "User"  # `az login` in the mocks (the Azure CLI's client id)


def stack_principal_type(path: Path) -> str | None:
    config = (yaml.safe_load(path.read_text()) or {}).get("config") or {}
    return config.get("aoai-finetune:principalType")


def test_stack_files_and_environments_agree_with_who_runs_them() -> None:
    # dev: run by a person (az login) and by the deploy workflow (OIDC service principal): only "" fits both.
    assert stack_principal_type(ROOT / "Pulumi.dev.yaml") == ""
    # prod and the shared ESC environment grant to a group, so the type is Group and the id is set.
    assert stack_principal_type(ROOT / "Pulumi.prod.yaml.example") == "Group"
    common = yaml.safe_load((ROOT / "environments" / "common.yaml").read_text())["values"]
    assert common["pulumiConfig"]["aoai-finetune:principalType"] == "Group"
    assert common["pulumiConfig"]["aoai-finetune:principalId"]
    assert common["environmentVariables"]["ARM_USE_OIDC"] == "true"

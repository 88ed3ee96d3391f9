"""`infra.deployment`: the ServedModel component on its own (under Pulumi mocks) - what the deployment is declared
with, when the smoke test exists, the TTL tags and the billing notes."""
from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

import pulumi
import pytest

from infra.deployment import COMPONENT_TYPE, TTL_HOURS_TAG, ServedModel, ServedModelArgs, deployment_tags
from infra.program import build_stack
from infra.settings import StackSettings
from pipeline.sweep import EXPIRES_AT_TAG
from tests.infra.pulumi_harness import RecordingMocks, registered_resources, reset_pulumi, stack_config

DEPLOYMENT = "azure-native:cognitiveservices:Deployment"
SMOKE = "pulumi-python:dynamic/aoai-finetune:SmokeTest"


def serve(overrides: dict[str, Any] | None = None, **args: Any) -> RecordingMocks:
    """Declare one ServedModel on the dev stack's account; the mocks record what was registered."""
    mocks = RecordingMocks()
    reset_pulumi(mocks, stack_config("dev", overrides))

    def program() -> None:
        settings = StackSettings.from_pulumi_config()
        parts = build_stack(settings)
        ServedModel("served", ServedModelArgs(account=parts.account, account_id=parts.account_id,
                                              resource_group_name=parts.resource_group_name, settings=settings,
                                              **{"model_name": "gpt-4o-mini-2024-07-18.ft-abc", **args}))

    pulumi.runtime.test(program)()
    return mocks


@pytest.fixture
def warnings(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    seen: list[str] = []
    monkeypatch.setattr(pulumi.log, "warn", lambda msg, *a, **k: seen.append(msg))
    return seen


def test_the_deployment_and_its_smoke_test_are_children_of_one_component(warnings: list[str]) -> None:
    mocks = serve(smoke_test=True, source_account_id="/subscriptions/s/resourceGroups/g/providers/"
                                                     "Microsoft.CognitiveServices/accounts/dev")
    (deployment,) = mocks.of_type(DEPLOYMENT)
    assert deployment.inputs["deploymentName"] == "gpt-4o-mini-2024-07-18-ft"
    assert deployment.inputs["properties"]["model"] == {
        "format": "OpenAI", "name": "gpt-4o-mini-2024-07-18.ft-abc", "version": "1",
        "source": "/subscriptions/s/resourceGroups/g/providers/Microsoft.CognitiveServices/accounts/dev"}
    assert deployment.inputs["sku"] == {"name": "Standard", "capacity": 1}
    (smoke,) = mocks.of_type(SMOKE)
    assert smoke.inputs["deployment_name"] == "gpt-4o-mini-2024-07-18-ft"
    assert smoke.inputs["model"] == "gpt-4o-mini-2024-07-18.ft-abc"
    urns = list(registered_resources())
    component = next(urn for urn in urns if urn.endswith(f"{COMPONENT_TYPE}::served"))
    assert "aoai-finetune:index:OpenAIAccount$" in component  # under the account it serves on
    assert [w for w in warnings if "billed for hosting every hour" in w]


def test_a_base_model_without_smoke_test_or_billing_note(warnings: list[str]) -> None:
    mocks = serve(model_name="gpt-4o-mini", model_version="2024-07-18", deployment_name="gpt-4o-mini-base",
                  sku_name="GlobalStandard", billing_note=False, deployment_resource="base-deployment")
    (deployment,) = mocks.of_type(DEPLOYMENT)
    assert deployment.name == "base-deployment" and deployment.inputs["deploymentName"] == "gpt-4o-mini-base"
    assert deployment.inputs["properties"]["model"] == {"format": "OpenAI", "name": "gpt-4o-mini", "version": "2024-07-18"}
    assert deployment.inputs["sku"]["name"] == "GlobalStandard"
    assert mocks.of_type(SMOKE) == [] and warnings == []


def test_developer_tier_gets_its_own_note(warnings: list[str]) -> None:
    serve({"deploymentSku": "DeveloperTier"})
    assert len(warnings) == 1 and "DeveloperTier" in warnings[0] and "24 hours" in warnings[0]


def test_ttl_tags_only_when_configured() -> None:
    now = datetime(2026, 11, 30, 12, 0, tzinfo=timezone.utc)
    plain = StackSettings.model_validate({"tags": {"env": "dev"}})
    assert deployment_tags(plain, now=now) == {"env": "dev"}
    ttl = StackSettings.model_validate({"tags": {"env": "dev"}, "deploymentTtlHours": "6"})
    tags = deployment_tags(ttl, now=now)
    assert tags[TTL_HOURS_TAG] == "6" and tags[EXPIRES_AT_TAG].startswith("2026-11-30T18:00")
    mocks = serve({"deploymentTtlHours": "6"})
    (deployment,) = mocks.of_type(DEPLOYMENT)
    assert deployment.inputs["tags"][TTL_HOURS_TAG] == "6" and EXPIRES_AT_TAG in deployment.inputs["tags"]

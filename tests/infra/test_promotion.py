"""Promote mode of the real infra/__main__.py under Pulumi mocks, with the real Pulumi.yaml and
Pulumi.prod.yaml.example: the dev model is deployed by `source`, nothing is trained, the smoke test gates it."""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

import pulumi
import pytest

from infra.settings import PROJECT_NAME
from pipeline import envnames
from pipeline.chat import SMOKE_TEST_QUESTION
from pipeline.promotion import PROMOTED_FROM
from tests.infra.pulumi_harness import ROOT, SUBSCRIPTION, RecordingMocks, run_program, shared_run, stack_config

STACK_REFERENCE = "pulumi:pulumi:StackReference"
DEPLOYMENT = "azure-native:cognitiveservices:Deployment"
ACCOUNT = "azure-native:cognitiveservices:Account"
SMOKE = "pulumi-python:dynamic/aoai-finetune:SmokeTest"
FINE_TUNED = "pulumi-python:dynamic/aoai-finetune:FineTunedModel"
KEYS = "azure-native:cognitiveservices:listAccountKeys"
PROD_EXAMPLE = ROOT / "Pulumi.prod.yaml.example"
DEV_STACK = "my-org/aoai-finetune/dev"  # what the example names
MODEL = "gpt-4o-mini-2024-07-18.ft-0123456789abcdef0123456789abcdef"
DEV_ACCOUNT = (f"/subscriptions/{SUBSCRIPTION}/resourceGroups/rg-aoai-finetune-dev/providers/"
               "Microsoft.CognitiveServices/accounts/aoai-finetune-1a2b3c")
PINNED_ACCOUNT = ("/subscriptions/22222222-3333-4444-5555-666666666666/resourceGroups/rg-train/providers/"
                  "Microsoft.CognitiveServices/accounts/aoai-train")
PINNED_MODEL = "gpt-4o-mini-2024-07-18.ft-fedcba9876543210fedcba9876543210"
DEV_EVAL = {envnames.EVAL_PASS_RATE: 0.75, envnames.EVAL_BASE_PASS_RATE: 0.0, envnames.EVAL_RUN_ID: "evalrun_dev"}
PINNED_EVAL = {"sourceEvalPassRate": "0.5", "sourceEvalBasePassRate": "0.125", "sourceEvalRunId": "evalrun_pinned"}


@dataclass
class PromotionMocks(RecordingMocks):
    """RecordingMocks plus a readable dev stack, and what Deployment / SmokeTest report after `pulumi up`."""

    dev_outputs: dict[str, Any] = field(default_factory=lambda: {
        envnames.FINE_TUNED_MODEL: MODEL,
        envnames.AZURE_OPENAI_ACCOUNT_ID: DEV_ACCOUNT,
        envnames.AZURE_OPENAI_DEPLOYMENT: "gpt-4o-mini-2024-07-18-ft",
        envnames.SMOKE_TEST_ANSWER: "AI is ...",
        **DEV_EVAL,
    })
    smoke_fails: bool = False

    def new_resource(self, args: pulumi.runtime.MockResourceArgs) -> tuple[str, dict[str, Any]]:
        if args.typ == STACK_REFERENCE:
            self.resources.append(args)
            return args.inputs["name"], {"name": args.inputs["name"], "outputs": self.dev_outputs,
                                          "secretOutputNames": []}
        if args.typ == DEPLOYMENT:
            self.resources.append(args)
            return f"{args.name}-id", {**args.inputs, "name": args.inputs["deploymentName"]}
        if args.typ == SMOKE:
            self.resources.append(args)
            if self.smoke_fails:
                raise Exception("smoke test: deployment answered nothing (finish_reason content_filter)")
            return "smoke", {**args.inputs, "answer": f"answer of {args.inputs['deployment_name']}"}
        return super().new_resource(args)


def prod_config(**overrides: Any) -> dict[str, str]:
    return stack_config("prod", overrides, stack_file=PROD_EXAMPLE)


def one(mocks: RecordingMocks, typ: str) -> pulumi.runtime.MockResourceArgs:
    (found,) = mocks.of_type(typ)
    return found


@pytest.fixture
def prod_run():
    """The prod example as written: promote mode, source = the dev stack by StackReference (one run per test
    process, which the tests below only read)."""
    return shared_run(prod_config(), PromotionMocks, stack="prod").run


def test_prod_trains_nothing_and_reads_no_dataset(prod_run) -> None:
    types = {r.typ for r in prod_run.mocks.resources}
    assert FINE_TUNED not in types
    assert not any("FineTun" in t or "File" in t for t in types), types
    assert envnames.FINE_TUNING_JOB_ID not in prod_run.outputs


def test_prod_reads_the_dev_stack_and_deploys_its_model_by_source(prod_run) -> None:
    reference = one(prod_run.mocks, STACK_REFERENCE)
    assert reference.inputs["name"] == DEV_STACK
    deployment = one(prod_run.mocks, DEPLOYMENT)
    account = one(prod_run.mocks, ACCOUNT)
    assert deployment.inputs["properties"]["model"] == {
        "format": "OpenAI", "name": MODEL, "version": "1", "source": DEV_ACCOUNT}
    assert deployment.inputs["accountName"] == account.inputs["accountName"]  # prod's own account
    assert deployment.inputs["resourceGroupName"] == "rg-openai-prod"
    assert deployment.inputs["sku"] == {"name": "GlobalStandard", "capacity": 10}
    assert deployment.inputs["deploymentName"] == "gpt-4o-mini-2024-07-18-ft"


def test_prod_is_keyless_and_smoke_tests_the_promoted_deployment(prod_run) -> None:
    assert prod_run.mocks.invoked(KEYS) == []
    assert envnames.AZURE_OPENAI_API_KEY not in prod_run.outputs
    smoke = one(prod_run.mocks, SMOKE)
    assert smoke.inputs["deployment_name"] == "gpt-4o-mini-2024-07-18-ft"
    assert smoke.inputs["question"] == SMOKE_TEST_QUESTION
    assert smoke.inputs["model"] == MODEL
    assert not smoke.inputs.get("api_key")  # Entra ID


def test_prod_outputs_name_the_model_and_where_it_came_from(prod_run) -> None:
    outputs = prod_run.outputs
    assert outputs[envnames.AZURE_OPENAI_DEPLOYMENT] == "gpt-4o-mini-2024-07-18-ft"
    assert outputs[envnames.FINE_TUNED_MODEL] == MODEL
    assert outputs[envnames.SMOKE_TEST_ANSWER] == "answer of gpt-4o-mini-2024-07-18-ft"
    assert outputs[PROMOTED_FROM] == {"stack": DEV_STACK, "model": MODEL, "accountId": DEV_ACCOUNT,
                                      "evalPassRate": 0.75, "evalBasePassRate": 0.0, "evalRunId": "evalrun_dev"}
    assert outputs[envnames.AZURE_OPENAI_ACCOUNT_ID].endswith("/resourceGroups/rg-openai-prod/providers/"
                                                              "Microsoft.CognitiveServices/accounts/"
                                                              + one(prod_run.mocks, ACCOUNT).inputs["accountName"])


def test_a_dev_stack_serving_a_checkpoint_promotes_that_checkpoint() -> None:
    """dev's evaluation measured DEPLOYED_MODEL (deployCheckpoint), so that is the model prod deploys."""
    checkpoint = f"{MODEL}:ckpt-step-20"
    mocks = PromotionMocks()
    mocks.dev_outputs[envnames.DEPLOYED_MODEL] = checkpoint
    run = run_program(prod_config(), mocks)
    assert one(mocks, DEPLOYMENT).inputs["properties"]["model"]["name"] == checkpoint
    assert one(mocks, SMOKE).inputs["model"] == checkpoint
    assert run.outputs[envnames.FINE_TUNED_MODEL] == checkpoint == run.outputs[PROMOTED_FROM]["model"]


def test_promoting_from_a_promoted_stack_deploys_from_the_training_account() -> None:
    """prod -> prod-eu: the source stack's own account does not hold the model; PROMOTED_FROM names the owner."""
    prod_account = DEV_ACCOUNT.replace("rg-aoai-finetune-dev", "rg-openai-prod")
    mocks = PromotionMocks(dev_outputs={
        envnames.FINE_TUNED_MODEL: MODEL, envnames.AZURE_OPENAI_ACCOUNT_ID: prod_account,
        PROMOTED_FROM: {"stack": DEV_STACK, "model": MODEL, "accountId": DEV_ACCOUNT}, **DEV_EVAL,
    })
    run = run_program(prod_config(sourceStack="my-org/aoai-finetune/prod"), mocks, stack="prod-eu")
    assert one(mocks, DEPLOYMENT).inputs["properties"]["model"]["source"] == DEV_ACCOUNT
    assert run.outputs[PROMOTED_FROM]["accountId"] == DEV_ACCOUNT


def test_explicit_model_and_account_from_config_need_no_stack_reference() -> None:
    run = run_program(prod_config(sourceStack="", sourceModel=PINNED_MODEL, sourceAccountId=PINNED_ACCOUNT,
                                  **PINNED_EVAL),
                      PromotionMocks(), stack="prod")
    assert run.mocks.of_type(STACK_REFERENCE) == []
    assert one(run.mocks, DEPLOYMENT).inputs["properties"]["model"]["source"] == PINNED_ACCOUNT
    assert one(run.mocks, DEPLOYMENT).inputs["properties"]["model"]["name"] == PINNED_MODEL
    assert run.outputs[PROMOTED_FROM] == {"stack": None, "model": PINNED_MODEL, "accountId": PINNED_ACCOUNT,
                                          "evalPassRate": 0.5, "evalBasePassRate": 0.125, "evalRunId": "evalrun_pinned"}
    assert run.mocks.of_type(FINE_TUNED) == []


def test_a_pinned_model_wins_over_the_stack_reference() -> None:
    """What `aoai-ft promote` (pinned) leaves when a stack file also names a sourceStack."""
    run = run_program(prod_config(sourceModel=PINNED_MODEL, sourceAccountId=PINNED_ACCOUNT, **PINNED_EVAL),
                      PromotionMocks(),
                      stack="prod")
    assert run.mocks.of_type(STACK_REFERENCE) == []
    assert run.outputs[envnames.FINE_TUNED_MODEL] == PINNED_MODEL


@pytest.mark.parametrize(("overrides", "message"), [
    ({"sourceStack": ""}, "mode promote needs a source: sourceStack, or both sourceModel and sourceAccountId"),
    ({"sourceStack": "", "sourceModel": PINNED_MODEL}, "sourceModel and sourceAccountId go together"),
    ({"sourceStack": "dev"}, f"{PROJECT_NAME}:sourceStack: must be a stack reference org/project/stack"),
    ({"sourceStack": "", "sourceModel": PINNED_MODEL, "sourceAccountId": "aoai-train"},
     f"{PROJECT_NAME}:sourceAccountId: must be an ARM account id"),
])
def test_missing_or_bad_source_config_fails_before_any_resource(overrides: dict[str, str], message: str) -> None:
    mocks = PromotionMocks()
    with pytest.raises(pulumi.RunError) as info:
        run_program(prod_config(**overrides), mocks, stack="prod")
    assert message in str(info.value)
    assert mocks.resources == [] and mocks.calls == []


def test_a_dev_stack_without_a_model_fails_the_up_before_deploying() -> None:
    mocks = PromotionMocks(dev_outputs={envnames.AZURE_OPENAI_ACCOUNT_ID: DEV_ACCOUNT, **DEV_EVAL})
    with pytest.raises(Exception, match="has no FINE_TUNED_MODEL output"):
        run_program(prod_config(), mocks, stack="prod")
    assert mocks.of_type(DEPLOYMENT) == [] and mocks.of_type(SMOKE) == []


def test_promote_mode_refuses_to_skip_the_smoke_test() -> None:
    mocks = PromotionMocks()
    with pytest.raises(pulumi.RunError, match="smokeTest is false") as info:
        run_program(prod_config(smokeTest=False), mocks, stack="prod")
    assert "pulumi config set aoai-finetune:smokeTest true" in str(info.value)
    assert mocks.resources == [] and mocks.calls == []  # refused before anything was declared


def test_a_failing_smoke_test_fails_the_up() -> None:
    mocks = PromotionMocks(smoke_fails=True)
    with pytest.raises(Exception, match="smoke test"):
        run_program(prod_config(), mocks, stack="prod")
    assert len(mocks.of_type(DEPLOYMENT)) == 1  # the deployment was attempted; the stack did not report success


# ----- the Pulumi ESC examples in environments/ ----------------------------------------------------------------
ENVIRONMENTS = ROOT / "environments"


def esc_pulumi_config(name: str) -> dict[str, Any]:
    """The pulumiConfig a stack gets from ESC environment aoai-finetune/<name>: imports first, then its own."""
    import yaml

    document = yaml.safe_load((ENVIRONMENTS / f"{name}.yaml").read_text())
    merged: dict[str, Any] = {}
    for imported in document.get("imports", []):
        project, _, env_name = imported.partition("/")
        assert project == PROJECT_NAME and (ENVIRONMENTS / f"{env_name}.yaml").exists(), imported
        merged.update(esc_pulumi_config(env_name))
    merged.update(document["values"].get("pulumiConfig", {}))
    return merged


def stack_file_from_esc(name: str, tmp_path) -> Any:
    import yaml

    path = tmp_path / f"Pulumi.{name}.yaml"
    path.write_text(yaml.safe_dump({"config": esc_pulumi_config(name)}))
    return path


@pytest.mark.parametrize("name", ["dev", "prod"])
def test_esc_environments_only_set_declared_keys_and_validate(name: str, tmp_path) -> None:
    from infra.settings import STRUCTURED_KEYS, StackSettings

    config = esc_pulumi_config(name)
    assert all(key.startswith(f"{PROJECT_NAME}:") for key in config)
    # stack_config rejects undeclared keys and wrong types, as the CLI would
    strings = stack_config(name, stack_file=stack_file_from_esc(name, tmp_path))
    values: dict[str, Any] = {key.split(":", 1)[1]: value for key, value in strings.items()}
    for key in STRUCTURED_KEYS:  # JSON strings, as from_pulumi_config decodes them
        values[key] = json.loads(values[key])
    parsed = StackSettings.from_mapping(values)
    if name == "dev":
        assert (parsed.mode, parsed.deployment_ttl_hours, parsed.max_training_cost_usd) == ("train", 8, 5.0)
    else:
        assert (parsed.mode, parsed.disable_local_auth, parsed.public_network_access) == ("promote", True, "Disabled")
        assert parsed.deployment_sku != "DeveloperTier" and parsed.source_model and not parsed.source_stack


def test_prod_from_esc_deploys_the_pinned_model_by_source(tmp_path) -> None:
    config = esc_pulumi_config("prod")
    run = run_program(stack_config("prod", stack_file=stack_file_from_esc("prod", tmp_path)), PromotionMocks(),
                      stack="prod")
    assert run.mocks.of_type(FINE_TUNED) == [] and run.mocks.of_type(STACK_REFERENCE) == []
    model = one(run.mocks, DEPLOYMENT).inputs["properties"]["model"]
    assert (model["name"], model["source"]) == (config[f"{PROJECT_NAME}:sourceModel"],
                                                config[f"{PROJECT_NAME}:sourceAccountId"])
    assert run.outputs[envnames.SMOKE_TEST_ANSWER]

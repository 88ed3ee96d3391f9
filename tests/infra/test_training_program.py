"""The train mode of the real infra/__main__.py under Pulumi mocks (dev stack config from the real YAML files):
dataset gate first, then fine-tuned model -> deployment -> smoke test, wired into the stack outputs."""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pulumi
import pytest

from infra.deployment import EXPIRES_AT_TAG, TTL_HOURS_TAG
from pipeline import envnames
from pipeline.chat import SMOKE_TEST_QUESTION
from pipeline.files import content_hash
from tests.infra.pulumi_harness import (
    ROOT, RecordingMocks, recorded_warnings, run_program, shared_run, stack_config,
)

FINE_TUNED = "pulumi-python:dynamic/aoai-finetune:FineTunedModel"
SMOKE = "pulumi-python:dynamic/aoai-finetune:SmokeTest"
DEPLOYMENT = "azure-native:cognitiveservices:Deployment"
ACCOUNT = "azure-native:cognitiveservices:Account"


def mock_checkpoints(model: str) -> list[dict[str, Any]]:
    """What the provider records for a three-epoch job: steps 10, 20, 30 kept, step 20 lowest in validation loss,
    the final model last at step 30 (as `pipeline.jobs.list_checkpoints` returns them)."""
    losses = {10: 0.42, 20: 0.25, 30: 0.31}
    return [*({"step": step, "model": f"{model}:ckpt-step-{step}", "train_loss": loss - 0.1, "valid_loss": loss,
               "final": False} for step, loss in losses.items()),
            {"step": 30, "model": model, "train_loss": 0.21, "valid_loss": 0.31, "final": True}]


@dataclass
class TrainingMocks(RecordingMocks):
    """RecordingMocks plus what the fine-tuning resources report after a real `pulumi up`."""

    requests: list[Any] = field(default_factory=list)

    def new_resource(self, args: pulumi.runtime.MockResourceArgs) -> tuple[str, dict[str, Any]]:
        if args.typ == FINE_TUNED:
            self.resources.append(args)
            model = f"{args.inputs['base_model']}.ft-0123456789abcdef"
            return "ftjob-mock", {**args.inputs, "fine_tuned_model": model, "job_id": "ftjob-mock",
                                  "training_file_id": "file-t", "validation_file_id": "file-v", "trained_tokens": 1234,
                                  "checkpoints": mock_checkpoints(model)}
        if args.typ == SMOKE:
            self.resources.append(args)
            return "smoke", {**args.inputs, "answer": f"answer of {args.inputs['deployment_name']}"}
        if args.typ == DEPLOYMENT:
            self.resources.append(args)
            return f"{args.name}-id", {**args.inputs, "name": args.inputs["deploymentName"]}
        return super().new_resource(args)


@pytest.fixture
def warnings(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    return recorded_warnings(monkeypatch)


def one(mocks: RecordingMocks, typ: str, name: str | None = None) -> pulumi.runtime.MockResourceArgs:
    """The one resource of `typ` (named `name` when the stack has several, e.g. the base model's deployment)."""
    (found,) = [r for r in mocks.of_type(typ) if r.name == name or (name is None and r.name != "base-deployment")]
    return found


def test_model_flows_into_deployment_and_answer_into_outputs() -> None:
    shared = shared_run(stack_config("dev"), TrainingMocks)
    run, mocks, register_requests, warnings = shared.run, shared.mocks, shared.requests, shared.warnings

    model = one(mocks, FINE_TUNED).inputs
    assert model["training_path"] == str(ROOT / "datasets" / "training_set.jsonl")
    assert model["training_sha256"] == content_hash(ROOT / "datasets" / "training_set.jsonl")
    assert model["validation_sha256"] == content_hash(ROOT / "datasets" / "validation_set.jsonl")
    assert model["base_model"] == "gpt-4o-mini-2024-07-18"
    assert model["account_id"] == run.outputs[envnames.AZURE_OPENAI_ACCOUNT_ID]  # the model belongs to it

    deployment = one(mocks, DEPLOYMENT, "deployment").inputs
    assert deployment["properties"]["model"] == {
        "format": "OpenAI", "name": "gpt-4o-mini-2024-07-18.ft-0123456789abcdef", "version": "1"}
    assert deployment["sku"] == {"name": "Standard", "capacity": 1}
    assert deployment["deploymentName"] == "gpt-4o-mini-2024-07-18-ft"
    assert deployment["accountName"] == one(mocks, ACCOUNT).inputs["accountName"]
    assert EXPIRES_AT_TAG not in deployment["tags"]  # no TTL configured in dev

    smoke = one(mocks, SMOKE).inputs
    assert smoke["account_id"] == run.outputs[envnames.AZURE_OPENAI_ACCOUNT_ID]
    assert smoke["deployment_name"] == "gpt-4o-mini-2024-07-18-ft" and smoke["question"] == SMOKE_TEST_QUESTION
    assert smoke["model"] == "gpt-4o-mini-2024-07-18.ft-0123456789abcdef"

    assert run.outputs[envnames.FINE_TUNED_MODEL] == "gpt-4o-mini-2024-07-18.ft-0123456789abcdef"
    assert run.outputs[envnames.FINE_TUNING_JOB_ID] == "ftjob-mock"
    assert run.outputs[envnames.AZURE_OPENAI_DEPLOYMENT] == "gpt-4o-mini-2024-07-18-ft"
    assert run.outputs[envnames.SMOKE_TEST_ANSWER] == "answer of gpt-4o-mini-2024-07-18-ft"
    assert envnames.AZURE_OPENAI_ENDPOINT in run.outputs  # the stack's earlier outputs are still there
    assert run.secret_outputs == {envnames.AZURE_OPENAI_API_KEY}

    # the key never reaches the dynamic resources (they read it through ARM per call): nothing secret in state
    for request in register_requests:
        if request.type in (FINE_TUNED, SMOKE):
            assert "mock-key" not in str(request.object) and not request.additionalSecretOutputs

    # deployment after the model, smoke test after the deployment, model after the account's roles
    by_type = {request.type: request for request in register_requests if request.name != "base-deployment"}
    model_urn, deployment_urn = run.urn_of(FINE_TUNED, "fine-tuned-model"), run.urn_of(DEPLOYMENT, "deployment")
    assert model_urn in by_type[DEPLOYMENT].dependencies
    assert deployment_urn in by_type[SMOKE].dependencies
    assert run.urn_of("azure-native:authorization:RoleAssignment", "openai-openai-contributor") in by_type[FINE_TUNED].dependencies
    assert run.urn_of("azure-native:authorization:RoleAssignment", "openai-openai-user") in by_type[SMOKE].dependencies
    # model -> deployment -> smoke test as one component under the account; aliases keep the resources that earlier
    # versions declared under the account (deployment) and at the root (smoke test), so nothing is replaced
    assert deployment_urn.endswith("aoai-finetune:index:ServedModel$azure-native:cognitiveservices:Deployment::deployment")
    served_urn = run.urn_of("aoai-finetune:index:ServedModel", "fine-tuned-model-served")
    assert "aoai-finetune:index:OpenAIAccount$aoai-finetune:index:ServedModel" in served_urn
    account_urn = run.urn_of("aoai-finetune:index:OpenAIAccount", "openai")
    assert account_urn in [alias.spec.parentUrn for alias in by_type[DEPLOYMENT].aliases]
    assert any(alias.spec.noParent for alias in by_type[SMOKE].aliases)
    assert by_type[DEPLOYMENT].parent == by_type[SMOKE].parent == served_urn
    assert any("15 days" in w and "every hour" in w for w in warnings)


def registered_inputs(mocks: RecordingMocks, typ: str) -> dict[str, Any]:
    inputs = dict(one(mocks, typ).inputs)
    inputs.pop("__provider", None)  # the pickled provider; its diff ignores it
    return inputs


def test_preview_of_a_key_rotation_changes_no_model_deployment_or_smoke_test() -> None:
    """`pulumi preview` after the account's keys were regenerated: the key is only a stack output, so the
    fine-tuned model, the deployment and the smoke test get exactly the inputs they had: nothing to update,
    nothing unknown."""
    first = shared_run(stack_config("dev"), TrainingMocks, preview=True).run
    before, after = first.mocks, TrainingMocks(keys=("rotated-key-1", "rotated-key-2"))
    second = run_program(stack_config("dev"), after, preview=True)
    assert first.outputs[envnames.AZURE_OPENAI_API_KEY] != second.outputs[envnames.AZURE_OPENAI_API_KEY]
    for typ in (FINE_TUNED, DEPLOYMENT, SMOKE):
        assert registered_inputs(before, typ) == registered_inputs(after, typ), typ
    assert "rotated" not in json.dumps([registered_inputs(after, t) for t in (FINE_TUNED, SMOKE)])


def test_preview_inputs_name_the_account_not_its_endpoint_or_key() -> None:
    """Changing location/resourceGroupName/namePrefix gives another account id: the model's replace trigger."""
    mocks = shared_run(stack_config("dev"), TrainingMocks, preview=True).mocks
    moved = TrainingMocks()
    run_program(stack_config("dev", {"location": "swedencentral"}), moved, preview=True)
    old_id, new_id = (registered_inputs(m, FINE_TUNED)["account_id"] for m in (mocks, moved))
    assert old_id != new_id and old_id.endswith(one(mocks, ACCOUNT).inputs["accountName"])
    assert new_id.endswith(one(moved, ACCOUNT).inputs["accountName"])
    for inputs in (registered_inputs(mocks, FINE_TUNED), registered_inputs(mocks, SMOKE)):
        assert not {"endpoint", "api_key"} & set(inputs)


def test_keyless_training_has_no_key_anywhere() -> None:
    mocks = TrainingMocks()
    run = run_program(stack_config("dev", {"disableLocalAuth": True}), mocks)
    assert one(mocks, FINE_TUNED).inputs.get("api_key") is None
    assert one(mocks, SMOKE).inputs.get("api_key") is None
    assert run.outputs[envnames.SMOKE_TEST_ANSWER] == "answer of gpt-4o-mini-2024-07-18-ft"
    assert run.secret_outputs == set()


def test_settings_reach_the_resources(warnings) -> None:
    mocks = TrainingMocks()
    run = run_program(stack_config("dev", {
        "nEpochs": "3", "seed": "42", "suffix": "teacher", "deploymentSku": "DeveloperTier",
        "deploymentCapacity": 2, "deploymentTtlHours": "8", "smokeTest": False, "validationFile": "",
    }), mocks)
    model = one(mocks, FINE_TUNED).inputs
    assert model["hyperparameters"] == {"n_epochs": 3} and model["seed"] == 42 and model["suffix"] == "teacher"
    assert model.get("validation_path") is None and model.get("validation_sha256") is None
    deployment = one(mocks, DEPLOYMENT, "deployment").inputs
    assert deployment["sku"] == {"name": "DeveloperTier", "capacity": 2}
    assert deployment["tags"][TTL_HOURS_TAG] == "8" and deployment["tags"][EXPIRES_AT_TAG].endswith("Z")
    assert mocks.of_type(SMOKE) == [] and envnames.SMOKE_TEST_ANSWER not in run.outputs
    assert any("DeveloperTier" in w for w in warnings)


def bad_dataset(tmp_path: Path) -> Path:
    path = tmp_path / "bad.jsonl"
    good = (ROOT / "datasets" / "training_set.jsonl").read_text().splitlines()
    path.write_text("\n".join(good[:12] + ["{not json", json.dumps({"messages": [{"role": "user", "content": "hi"}]})]) + "\n")
    return path


def test_bad_dataset_stops_before_any_resource(tmp_path: Path) -> None:
    mocks = TrainingMocks()
    with pytest.raises(pulumi.RunError) as info:
        run_program(stack_config("dev", {"trainingFile": str(bad_dataset(tmp_path))}), mocks)
    message = str(info.value)
    assert "bad.jsonl" in message and "INVALID" in message  # the rendered report is in the error
    assert "line 13" in message and "aoai-ft validate" in message
    assert mocks.resources == [] and mocks.calls == []


def test_missing_dataset_stops_with_a_clear_message(tmp_path: Path) -> None:
    mocks = TrainingMocks()
    with pytest.raises(pulumi.RunError, match="no such file"):
        run_program(stack_config("dev", {"validationFile": str(tmp_path / "missing.jsonl")}), mocks)
    assert mocks.resources == [] and mocks.calls == []


def test_budget_below_the_estimate_stops_with_the_figures() -> None:
    from pipeline.dataset import validate_files

    estimate = validate_files([ROOT / "datasets" / "training_set.jsonl"]).estimate
    assert estimate is not None and estimate.usd > 0.01
    mocks = TrainingMocks()
    with pytest.raises(pulumi.RunError) as info:
        run_program(stack_config("dev", {"maxTrainingCostUsd": "0.01"}), mocks)
    message = str(info.value)
    assert "maxTrainingCostUsd" in message and "$0.01" in message
    assert f"{estimate.billed_tokens:,} billed tokens" in message
    assert mocks.resources == [] and mocks.calls == []

    ok = run_program(stack_config("dev", {"maxTrainingCostUsd": str(estimate.usd + 1)}), TrainingMocks())
    assert ok.outputs[envnames.FINE_TUNED_MODEL]


@pytest.mark.parametrize("epochs", [26, 50])
def test_budget_counts_every_epoch_that_will_be_billed(epochs: int) -> None:
    """nEpochs above the default-epochs ceiling (25) is still what Azure trains and bills: the gate uses it."""
    from pipeline.dataset import validate_files

    paths = [ROOT / "datasets" / "training_set.jsonl", ROOT / "datasets" / "validation_set.jsonl"]
    per_epoch = validate_files(paths, n_epochs=1).estimate
    assert per_epoch is not None
    ceiling = per_epoch.usd * (epochs - 1)  # enough for one epoch fewer than asked
    mocks = TrainingMocks()
    with pytest.raises(pulumi.RunError) as info:
        run_program(stack_config("dev", {"nEpochs": str(epochs), "maxTrainingCostUsd": f"{ceiling:.6f}"}), mocks)
    assert f"({epochs} epochs)" in str(info.value)
    assert mocks.resources == []
    ok = run_program(stack_config("dev", {"nEpochs": str(epochs), "maxTrainingCostUsd": f"{per_epoch.usd * (epochs + 1):.6f}"}),
                     TrainingMocks())
    assert ok.outputs[envnames.FINE_TUNED_MODEL]


def test_deployments_on_one_account_are_chained() -> None:
    """The base model's deployment waits for the fine-tuned one (and its smoke test): ARM serialises writes."""
    shared = shared_run(stack_config("dev"), TrainingMocks)
    run, register_requests = shared.run, shared.requests
    deployments = {r.name: r for r in register_requests if r.type == DEPLOYMENT}
    base_component = next(r for r in register_requests if r.name == "base-model-served")
    # depending on the fine-tuned ServedModel component means waiting for all its children
    assert set(base_component.dependencies) >= {run.urn_of(DEPLOYMENT, "deployment"), run.urn_of(SMOKE, "smoke-test")}
    assert deployments["base-deployment"].parent == run.urn_of("aoai-finetune:index:ServedModel", "base-model-served")
    assert not any("base" in urn for urn in deployments["deployment"].dependencies)


def test_an_unchanged_dataset_is_validated_once_across_previews(monkeypatch: pytest.MonkeyPatch) -> None:
    """The second `pulumi preview` reuses the cached reports (one hash per file) and says so in the log."""
    infos: list[str] = []
    original = pulumi.log.info
    monkeypatch.setattr(pulumi.log, "info", lambda msg, *a, **k: (infos.append(msg), original(msg, *a, **k)))
    run_program(stack_config("dev"), TrainingMocks(), preview=True)
    assert not any("cached report" in line for line in infos)
    run_program(stack_config("dev"), TrainingMocks(), preview=True)
    reused = [line for line in infos if "reused the cached report" in line]
    assert len(reused) == 1 and "training_set.jsonl" in reused[0] and "validation_set.jsonl" in reused[0]


# ---- deployCheckpoint: which of the job's models is deployed, picked from the recorded checkpoints ----------------
EVALUATION = "pulumi-python:dynamic/aoai-finetune:Evaluation"
FINAL_MODEL = "gpt-4o-mini-2024-07-18.ft-0123456789abcdef"


@pytest.mark.parametrize(("choice", "deployed"), [
    ("final", FINAL_MODEL),
    ("20", f"{FINAL_MODEL}:ckpt-step-20"),
    ("10", f"{FINAL_MODEL}:ckpt-step-10"),
    ("30", FINAL_MODEL),  # the last step is the final model
    ("best-validation-loss", f"{FINAL_MODEL}:ckpt-step-20"),
])
def test_deploy_checkpoint_picks_the_model_the_deployment_smoke_test_and_evaluation_use(choice: str, deployed: str) -> None:
    run = shared_run(stack_config("dev", {"deployCheckpoint": choice}), TrainingMocks).run
    mocks = run.mocks
    assert one(mocks, DEPLOYMENT, "deployment").inputs["properties"]["model"]["name"] == deployed
    assert one(mocks, SMOKE).inputs["model"] == deployed
    assert registered_inputs(mocks, EVALUATION)["model"] == deployed  # the gate measures what is deployed
    assert run.outputs[envnames.DEPLOYED_MODEL] == deployed
    assert run.outputs[envnames.FINE_TUNED_MODEL] == FINAL_MODEL  # always the job's final model
    assert run.outputs[envnames.AZURE_OPENAI_DEPLOYMENT] == "gpt-4o-mini-2024-07-18-ft"  # the same deployment


def test_changing_deploy_checkpoint_never_touches_the_training_resource() -> None:
    """deployCheckpoint is not an input of FineTunedModel: its inputs are identical for every choice (so its diff,
    which replaces = trains again only on an input change, has nothing to act on), in a preview and an up."""
    for preview in (True, False):
        runs = {choice: shared_run(stack_config("dev", {"deployCheckpoint": choice}), TrainingMocks,
                                   preview=preview).mocks
                for choice in ("final", "10", "best-validation-loss")}
        inputs = [registered_inputs(mocks, FINE_TUNED) for mocks in runs.values()]
        assert inputs[0] == inputs[1] == inputs[2]
        assert inputs[0].get("checkpoints") is None  # an output only, never set by the program
    models = [one(mocks, DEPLOYMENT, "deployment").inputs["properties"]["model"]["name"] for mocks in runs.values()]
    assert len(set(models)) == 3  # while the deployment's model does change


def test_a_step_azure_did_not_keep_fails_the_up_before_deploying() -> None:
    mocks = TrainingMocks()
    with pytest.raises(Exception) as info:
        run_program(stack_config("dev", {"deployCheckpoint": "15"}), mocks)
    text = str(info.value)
    assert "aoai-finetune:deployCheckpoint: job ftjob-mock has no checkpoint at step 15" in text
    assert "the service kept steps 10, 20, 30 (the final model); nothing was deployed" in text
    assert "aoai-ft status ftjob-mock" in text and "Traceback" not in text
    assert one(mocks, FINE_TUNED)  # trained (and recorded), so the next choice deploys without training
    assert not [r for r in mocks.of_type(DEPLOYMENT) if r.name == "deployment"] and mocks.of_type(SMOKE) == []


def test_a_stack_recorded_without_checkpoints_asks_for_a_refresh() -> None:
    """State from before checkpoints were recorded: `final` deploys as it always did, a checkpoint asks for a
    `pulumi refresh` (which reads them) instead of guessing."""

    @dataclass
    class OldState(TrainingMocks):
        def new_resource(self, args: pulumi.runtime.MockResourceArgs) -> tuple[str, dict[str, Any]]:
            id_, outputs = super().new_resource(args)
            if args.typ == FINE_TUNED:
                outputs.pop("checkpoints")
            return id_, outputs

    assert run_program(stack_config("dev"), OldState()).outputs[envnames.DEPLOYED_MODEL] == FINAL_MODEL
    mocks = OldState()
    with pytest.raises(Exception, match=r"(?s)has not recorded the checkpoints of job ftjob-mock.*run `pulumi refresh`"):
        run_program(stack_config("dev", {"deployCheckpoint": "best-validation-loss"}), mocks)
    assert not [r for r in mocks.of_type(DEPLOYMENT) if r.name == "deployment"]


def test_a_bad_deploy_checkpoint_stops_before_any_resource() -> None:
    mocks = TrainingMocks()
    with pytest.raises(pulumi.RunError, match="aoai-finetune:deployCheckpoint: must be final, best-validation-loss"):
        run_program(stack_config("dev", {"deployCheckpoint": "latest"}), mocks)
    assert mocks.resources == [] and mocks.calls == []

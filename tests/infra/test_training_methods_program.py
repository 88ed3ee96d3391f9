"""The real infra/__main__.py under Pulumi mocks with `trainingMethod: dpo` and with continuous fine-tuning: the
settings reach the fine-tuned-model resource, the dataset gate validates and prices preference pairs, and a stack
can continue from a fine-tuned model (by id, or from another stack by StackReference)."""
from __future__ import annotations

from typing import Any

import pulumi
import pytest

from pipeline import envnames
from pipeline.dataset import validate_files
from tests.infra.pulumi_harness import ROOT, run_program, shared_run, stack_config
from tests.infra.test_training_program import DEPLOYMENT, FINE_TUNED, TrainingMocks, one

DPO_MODEL = "gpt-4.1-mini-2025-04-14"
DPO_CONFIG = {"trainingMethod": "dpo", "beta": "0.1", "baseModel": DPO_MODEL,
              "trainingFile": "datasets/preference_training_set.jsonl",
              "validationFile": "datasets/preference_validation_set.jsonl"}
PARENT = f"{DPO_MODEL}.ft-0123456789abcdef0123456789abcdef-sft"


def test_a_dpo_stack_trains_with_dpo_and_evaluates_on_the_preferred_replies() -> None:
    mocks = TrainingMocks()
    run = run_program(stack_config("dev", DPO_CONFIG), mocks)
    model = one(mocks, FINE_TUNED).inputs
    assert model["method"] == "dpo" and model["beta"] == 0.1 and model["base_model"] == DPO_MODEL
    assert model["training_path"] == str(ROOT / "datasets" / "preference_training_set.jsonl")
    assert run.outputs[envnames.FINE_TUNED_MODEL].startswith(DPO_MODEL + ".ft-")
    assert envnames.EVAL_PASS_RATE in run.outputs  # the preference validation file serves as the eval dataset


def test_a_supervised_stack_sends_the_supervised_method() -> None:
    mocks = shared_run(stack_config("dev"), TrainingMocks).mocks
    model = one(mocks, FINE_TUNED).inputs
    assert model["method"] == "supervised" and model.get("beta") is None


@pytest.mark.parametrize("overrides, expected", [
    ({"baseModel": "gpt-4o-mini-2024-07-18"}, "method_not_supported"),
    ({"trainingFile": "datasets/training_set.jsonl"}, "format_mismatch"),
])
def test_the_dataset_gate_refuses_what_azure_would(overrides: dict[str, str], expected: str) -> None:
    mocks = TrainingMocks()
    with pytest.raises(pulumi.RunError) as info:
        run_program(stack_config("dev", {**DPO_CONFIG, **overrides}), mocks)
    assert expected in str(info.value) and "nothing was created" in str(info.value)
    assert mocks.of_type(FINE_TUNED) == []


def test_preference_files_on_a_supervised_stack_say_which_key_to_set() -> None:
    config = {key: value for key, value in DPO_CONFIG.items() if key not in ("trainingMethod", "beta")}
    with pytest.raises(pulumi.RunError) as info:
        run_program(stack_config("dev", config), TrainingMocks())
    assert "format_mismatch" in str(info.value)
    assert "pulumi config set aoai-finetune:trainingMethod dpo" in str(info.value)


def test_the_budget_gate_prices_both_replies_of_each_pair() -> None:
    estimate = validate_files([ROOT / DPO_CONFIG["trainingFile"]], model=DPO_MODEL).estimate
    chat_sized = validate_files([ROOT / "datasets" / "training_set.jsonl"], model=DPO_MODEL).estimate
    assert estimate is not None and chat_sized is not None and estimate.billed_tokens > chat_sized.billed_tokens
    mocks = TrainingMocks()
    with pytest.raises(pulumi.RunError) as info:
        run_program(stack_config("dev", {**DPO_CONFIG, "maxTrainingCostUsd": f"{estimate.usd * 0.99:.6f}"}), mocks)
    assert f"{estimate.billed_tokens:,} billed tokens" in str(info.value)
    assert mocks.of_type(FINE_TUNED) == []
    run_program(stack_config("dev", {**DPO_CONFIG, "maxTrainingCostUsd": f"{estimate.usd * 1.01:.6f}"}), TrainingMocks())


def test_beta_without_dpo_is_a_config_error() -> None:
    with pytest.raises(Exception) as info:
        run_program(stack_config("dev", {"beta": "0.1"}), TrainingMocks())
    assert "beta is a DPO setting" in str(info.value)


def test_a_fine_tuned_base_model_continues_training_it() -> None:
    mocks = TrainingMocks()
    run_program(stack_config("dev", {**DPO_CONFIG, "baseModel": PARENT, "deploymentName": ""}), mocks)
    model = one(mocks, FINE_TUNED).inputs
    assert model["base_model"] == PARENT and model["method"] == "dpo"
    assert one(mocks, DEPLOYMENT, "deployment").inputs["deploymentName"] == f"{DPO_MODEL}-ft"


class SourceStackMocks(TrainingMocks):
    def __init__(self, outputs: dict[str, Any]) -> None:
        super().__init__()
        self.stack_outputs = outputs


SOURCE_ACCOUNT = ("/subscriptions/11111111-2222-3333-4444-555555555555/resourceGroups/rg-dev/providers/"
                  "Microsoft.CognitiveServices/accounts/aoai-ft-dev")


def test_continue_from_stack_trains_on_the_account_that_holds_the_model() -> None:
    mocks = SourceStackMocks({envnames.FINE_TUNED_MODEL: PARENT, envnames.DEPLOYED_MODEL: PARENT,
                              envnames.AZURE_OPENAI_ACCOUNT_ID: SOURCE_ACCOUNT})
    run = run_program(stack_config("dev", {**DPO_CONFIG, "continueFromStack": "org/aoai-finetune/dev"}), mocks)
    model = one(mocks, FINE_TUNED).inputs
    assert model["base_model"] == PARENT and model["account_id"] == SOURCE_ACCOUNT
    deployment = one(mocks, DEPLOYMENT, "deployment").inputs
    assert deployment["properties"]["model"]["source"] == SOURCE_ACCOUNT  # deployed here by source
    assert run.outputs[envnames.FINE_TUNED_MODEL].startswith(PARENT + ".ft-")  # the mock names it after its input


def test_continue_from_a_stack_of_another_base_model_stops_before_training() -> None:
    mocks = SourceStackMocks({envnames.FINE_TUNED_MODEL: "gpt-4o-2024-08-06.ft-" + "0" * 32,
                              envnames.AZURE_OPENAI_ACCOUNT_ID: SOURCE_ACCOUNT})
    with pytest.raises(pulumi.RunError) as info:
        run_program(stack_config("dev", {**DPO_CONFIG, "continueFromStack": "org/aoai-finetune/dev"}), mocks)
    assert "baseModel gpt-4o-2024-08-06" in str(info.value)
    assert mocks.of_type(FINE_TUNED) == []

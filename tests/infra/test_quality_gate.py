"""The quality gate of the real infra/__main__.py under Pulumi mocks: a dev `up` evaluates its model against the
base model on the validation set and fails below the bar; promote mode refuses a weak source before any resource,
whether the figures come from the source stack's outputs or are pinned in config."""
from __future__ import annotations

import json
from typing import Any

import pulumi
import pytest

from pipeline import envnames
from pipeline.evals.criteria import parse_criteria
from pipeline.files import content_hash
from tests.infra.pulumi_harness import ROOT, run_program, shared_run, stack_config
from tests.infra.test_promotion import (DEV_EVAL, PINNED_ACCOUNT, PINNED_MODEL, STACK_REFERENCE, PromotionMocks,
                                        prod_config)
from tests.infra.test_training_program import DEPLOYMENT, SMOKE, TrainingMocks, registered_inputs

EVALUATION = "pulumi-python:dynamic/aoai-finetune:Evaluation"


def named(mocks: Any, typ: str, name: str) -> Any:
    (found,) = [r for r in mocks.of_type(typ) if r.name == name]
    return found


# ----- train mode ----------------------------------------------------------------------------------------------
def test_dev_evaluates_its_model_and_the_base_model_after_the_smoke_test() -> None:
    mocks = TrainingMocks()
    run = run_program(stack_config("dev", {"evalCriteria": "fuzzy_match>=0.6,rouge_l>=0.4"}), mocks)
    base = named(mocks, DEPLOYMENT, "base-deployment").inputs
    assert base["properties"]["model"] == {"format": "OpenAI", "name": "gpt-4o-mini", "version": "2024-07-18"}
    assert base["deploymentName"] == "gpt-4o-mini-2024-07-18-base"
    evaluation = registered_inputs(mocks, EVALUATION)
    validation = ROOT / "datasets" / "validation_set.jsonl"
    assert evaluation["deployment_name"] == "gpt-4o-mini-2024-07-18-ft"
    assert evaluation["base_deployment_name"] == "gpt-4o-mini-2024-07-18-base"
    assert evaluation["model"] == "gpt-4o-mini-2024-07-18.ft-0123456789abcdef"
    assert (evaluation["dataset_path"], evaluation["dataset_sha256"]) == (str(validation), content_hash(validation))
    assert json.loads(evaluation["criteria"]) == parse_criteria("fuzzy_match>=0.6,rouge_l>=0.4")
    assert evaluation["account_id"] == run.outputs[envnames.AZURE_OPENAI_ACCOUNT_ID]
    assert not {"endpoint", "api_key"} & set(evaluation)
    assert run.outputs[envnames.EVAL_PASS_RATE] == 0.75
    assert run.outputs[envnames.EVAL_BASE_PASS_RATE] == 0.0
    assert run.outputs[envnames.EVAL_RUN_ID] == "evalrun_mock"


def test_a_dev_model_below_the_bar_fails_the_up_with_the_figures_and_keeps_its_deployment() -> None:
    mocks = TrainingMocks(eval_figures=(0.0625, 0.0))
    with pytest.raises(Exception) as info:
        run_program(stack_config("dev"), mocks)
    text = str(info.value)
    assert "the model trained by stack dev is below the quality bar" in text
    assert "improvement over the base model +6% points (6% vs 0%) is below the minimum +10%" in text
    assert "evalrun_mock" in text and "kept for inspection" in text
    assert named(mocks, DEPLOYMENT, "deployment") and mocks.of_type(EVALUATION)  # declared, not removed


def test_min_eval_pass_rate_is_an_absolute_floor() -> None:
    with pytest.raises(Exception, match="pass rate 75% is below the minimum 80%"):
        run_program(stack_config("dev", {"minEvalPassRate": "0.8"}), TrainingMocks())
    run = run_program(stack_config("dev", {"minEvalPassRate": "0.7"}), TrainingMocks())
    assert run.outputs[envnames.EVAL_PASS_RATE] == 0.75


def test_with_both_bars_empty_a_weak_model_is_only_reported() -> None:
    run = run_program(stack_config("dev", {"minEvalPassRate": "", "minImprovementOverBase": ""}),
                      TrainingMocks(eval_figures=(0.0, 0.0)))
    assert run.outputs[envnames.EVAL_PASS_RATE] == 0.0


def test_no_validation_file_means_no_evaluation_and_no_base_deployment() -> None:
    mocks = TrainingMocks()
    run = run_program(stack_config("dev", {"validationFile": ""}), mocks)
    assert mocks.of_type(EVALUATION) == [] and [r.name for r in mocks.of_type(DEPLOYMENT)] == ["deployment"]
    assert envnames.EVAL_PASS_RATE not in run.outputs


def test_bad_criteria_or_bar_stop_before_any_resource() -> None:
    for overrides, message in (({"evalCriteria": "bleu"}, "aoai-finetune:evalCriteria: evaluation criterion 'bleu'"),
                               ({"minEvalPassRate": "1.5"}, "aoai-finetune:minEvalPassRate"),
                               ({"minImprovementOverBase": "lots"}, "aoai-finetune:minImprovementOverBase")):
        mocks = TrainingMocks()
        with pytest.raises(pulumi.RunError, match=message):
            run_program(stack_config("dev", overrides), mocks)
        assert mocks.resources == [] and mocks.calls == []


def test_key_rotation_or_a_new_bar_changes_nothing_the_evaluation_measures() -> None:
    before = shared_run(stack_config("dev"), TrainingMocks, preview=True).mocks
    after = TrainingMocks(keys=("rotated-1", "rotated-2"))
    run_program(stack_config("dev", {"minEvalPassRate": "0.5"}), after, preview=True)
    assert registered_inputs(before, EVALUATION) == registered_inputs(after, EVALUATION)


# ----- promote mode --------------------------------------------------------------------------------------------
def test_a_source_stack_below_the_bar_is_refused_before_any_resource() -> None:
    weak = {envnames.EVAL_PASS_RATE: 0.125, envnames.EVAL_BASE_PASS_RATE: 0.0625, envnames.EVAL_RUN_ID: "evalrun_w"}
    mocks = PromotionMocks(dev_outputs={**PromotionMocks().dev_outputs, **weak})
    with pytest.raises(pulumi.RunError) as info:
        run_program(prod_config(), mocks, stack="prod")
    text = str(info.value)
    assert "the model of stack my-org/aoai-finetune/dev is below the quality bar" in text
    assert "+6% points (12% vs 6%) is below the minimum +10%" in text and "evalrun_w" in text
    assert "nothing was deployed" in text
    assert [r.typ for r in mocks.resources] == [STACK_REFERENCE]  # only the read of the source's outputs


def test_a_source_stack_without_an_evaluation_is_refused() -> None:
    outputs = {k: v for k, v in PromotionMocks().dev_outputs.items() if k not in DEV_EVAL}
    mocks = PromotionMocks(dev_outputs=outputs)
    with pytest.raises(pulumi.RunError, match="has no recorded evaluation"):
        run_program(prod_config(), mocks, stack="prod")
    assert mocks.of_type(DEPLOYMENT) == [] and mocks.of_type(SMOKE) == []


def test_prods_own_bar_applies_to_the_source_figures() -> None:
    mocks = PromotionMocks()
    with pytest.raises(pulumi.RunError, match="pass rate 75% is below the minimum 90%"):
        run_program(prod_config(minEvalPassRate="0.9"), mocks, stack="prod")
    run = run_program(prod_config(minEvalPassRate="0.7"), PromotionMocks(), stack="prod")
    assert run.outputs[envnames.PROMOTED_FROM]["evalPassRate"] == 0.75


@pytest.mark.parametrize(("figures", "message"), [
    ({"sourceEvalPassRate": "0.2", "sourceEvalBasePassRate": "0.15", "sourceEvalRunId": "evalrun_p"},
     "+5% points (20% vs 15%) is below the minimum +10%"),
    ({}, "has no recorded evaluation"),
])
def test_a_pinned_source_below_the_bar_is_refused_before_anything(figures: dict[str, str], message: str) -> None:
    mocks = PromotionMocks()
    with pytest.raises(pulumi.RunError) as info:
        run_program(prod_config(sourceStack="", sourceModel=PINNED_MODEL, sourceAccountId=PINNED_ACCOUNT, **figures),
                    mocks, stack="prod")
    assert message in str(info.value)
    assert f"the pinned model {PINNED_MODEL}" in str(info.value)
    assert mocks.resources == []


def test_a_pinned_source_that_clears_the_bar_is_deployed_with_its_figures_recorded() -> None:
    run = run_program(prod_config(sourceStack="", sourceModel=PINNED_MODEL, sourceAccountId=PINNED_ACCOUNT,
                                  sourceEvalPassRate="0.5", sourceEvalBasePassRate="0.25"), PromotionMocks(),
                      stack="prod")
    assert run.outputs[envnames.PROMOTED_FROM]["evalPassRate"] == 0.5
    assert run.outputs[envnames.PROMOTED_FROM]["evalBasePassRate"] == 0.25


def test_the_evaluation_waits_for_the_smoke_test_the_base_deployment_and_the_runners_role() -> None:
    shared = shared_run(stack_config("dev"), TrainingMocks)
    run = shared.run
    (request,) = [r for r in shared.requests if r.type == EVALUATION]
    assert run.urn_of(SMOKE, "smoke-test") in request.dependencies
    assert any(urn.endswith("Deployment::base-deployment") for urn in request.dependencies)
    assert run.urn_of("azure-native:authorization:RoleAssignment", "openai-openai-user") in request.dependencies

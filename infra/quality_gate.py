"""The quality gate in the stack: evaluate in train mode, refuse a weak source in promote mode.

Train mode (`add_evaluation`): when the stack has a validation file, the base model gets a deployment of its
own and an `Evaluation` runs the held-out set against both, after the smoke test. Its figures become the stack
outputs EVAL_PASS_RATE, EVAL_BASE_PASS_RATE and EVAL_RUN_ID, and an `up` whose model misses the bar
(minEvalPassRate, minImprovementOverBase) fails with the figures; the deployments stay for inspection and the
next `up` checks the recorded figures again without paying for another evaluation (only a new model, data or
criteria evaluates again).

Promote mode (`check_source_quality`): the source's recorded figures - pinned in config by `aoai-ft promote`,
or read from the source stack's outputs - must clear this stack's bar, or the program stops before any resource.
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Any, Final

import pulumi

from infra.deployment import ServedModel, ServedModelArgs
from pipeline import envnames
from pipeline.deploy import model_reference
from pipeline.evals.gate import EvalFigures, QualityGateFailed, check_quality, figures_from_outputs

if TYPE_CHECKING:
    from infra.program import StackParts
    from infra.settings import StackSettings

BASE_DEPLOYMENT_RESOURCE: Final = "base-deployment"
EVALUATION_RESOURCE: Final = "evaluation"


class QualityGateError(pulumi.RunError):
    """The model is below the bar; the message names the figures (a clean message, no traceback)."""


def gate_dev_figures(settings: StackSettings, stack: str, figures: EvalFigures) -> EvalFigures:
    """The figures, or a `QualityGateError` naming them when they miss the bar."""
    try:
        check_quality(figures, settings.quality_bar, subject=f"the model trained by stack {stack}",
                      hint="the deployments are kept for inspection (`aoai-ft eval` shows every answer); improve "
                           "the training data and `pulumi up` again, or change minEvalPassRate / "
                           "minImprovementOverBase / evalCriteria")
    except QualityGateFailed as exc:
        raise QualityGateError(str(exc)) from None
    return figures


def add_evaluation(settings: StackSettings, parts: StackParts, *, served: ServedModel,
                   model: pulumi.Input[str]) -> dict[str, Any]:
    """Base deployment + Evaluation of both on the validation set; returns the (gated) EVAL_* outputs."""
    from infra.evaluation import Evaluation, EvaluationArgs
    from pipeline.files import content_hash

    validation = settings.validation_path
    if validation is None:
        return {}
    name, version = model_reference(settings.base_model)
    base = ServedModel("base-model-served", ServedModelArgs(
        account=parts.account, account_id=parts.account_id, resource_group_name=parts.resource_group_name,
        model_name=name, model_version=version, settings=settings, deployment_name=settings.base_deployment_name,
        sku_name="GlobalStandard" if settings.deployment_sku == "DeveloperTier" else None, billing_note=False,
        deployment_resource=BASE_DEPLOYMENT_RESOURCE,
    ), opts=pulumi.ResourceOptions(depends_on=[served]))  # ARM takes one deployment write per account at a time
    evaluation = Evaluation(
        EVALUATION_RESOURCE,
        EvaluationArgs(
            account_id=parts.account_id, deployment_name=served.deployment_name,
            base_deployment_name=base.deployment_name, dataset_path=str(validation),
            dataset_sha256=content_hash(validation), criteria=settings.eval_testing_criteria, model=model,
            base_model=settings.base_model,
        ),
        # after the smoke test; asks as the identity running `pulumi up` when keyless: after its role assignments
        opts=pulumi.ResourceOptions(depends_on=[served, base, *parts.account.data_plane_access]),
    )
    stack = pulumi.get_stack()
    figures = pulumi.Output.all(evaluation.pass_rate, evaluation.base_pass_rate, evaluation.run_id).apply(
        lambda values: gate_dev_figures(settings, stack, EvalFigures(
            pass_rate=float(values[0]), base_pass_rate=float(values[1]), run_id=values[2])))
    return {
        envnames.EVAL_PASS_RATE: figures.apply(lambda f: f.pass_rate),
        envnames.EVAL_BASE_PASS_RATE: figures.apply(lambda f: f.base_pass_rate),
        envnames.EVAL_RUN_ID: figures.apply(lambda f: f.run_id),
    }


def source_figures_by_reference(reference: pulumi.StackReference) -> EvalFigures | None:
    """The source stack's EVAL_* outputs, read now (the program waits for the reference before going on)."""
    from pulumi.runtime.sync_await import _sync_await

    values = {}
    for name in (envnames.EVAL_PASS_RATE, envnames.EVAL_BASE_PASS_RATE, envnames.EVAL_RUN_ID):
        details = _sync_await(reference.get_output_details(name))
        values[name] = details.value if details.value is not None else details.secret_value
    return figures_from_outputs(values)


def check_source_quality(settings: StackSettings, *, source: str, figures: EvalFigures | None) -> None:
    """Stop the program (before any resource) when the source's recorded figures miss this stack's bar."""
    try:
        check_quality(figures, settings.quality_bar, subject=f"the model of {source}",
                      hint="promote a model that passed its evaluation (`pulumi stack output -s <dev>` shows "
                           "EVAL_PASS_RATE), or change minEvalPassRate / minImprovementOverBase on this stack")
    except QualityGateFailed as exc:
        raise QualityGateError(f"{exc.message}; nothing was deployed\n  hint: {exc.hint}") from None

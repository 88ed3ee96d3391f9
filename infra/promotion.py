"""Promote mode (`mode: promote`): deploy a model another stack trained, and train nothing here.

Training is the slow, expensive step, so prod never retrains what dev already trained and smoke-tested. The
model comes either from the dev stack's outputs (`sourceStack` -> a `StackReference` to DEPLOYED_MODEL, the model
dev deployed and evaluated - a checkpoint when its deployCheckpoint chose one - else FINE_TUNED_MODEL, and
AZURE_OPENAI_ACCOUNT_ID) or, pinned, from config (`sourceModel` + `sourceAccountId`; `aoai-ft promote` writes
these). When both are set, the pinned config wins: it is the more specific statement.

It is deployed to this stack's own account with the deployment model's `source` = the training account's ARM id
(cross-resource deployment), then the smoke test asks it the lab's question; a failed or empty answer fails
`pulumi up`, so a stack that reports success has a prod deployment that answers.

Before any of that, the source's recorded evaluation (EVAL_* outputs of the source stack, or the pinned
sourceEval* values `aoai-ft promote` writes) must clear this stack's quality bar (`infra.quality_gate`).
"""
from __future__ import annotations

from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any, Final

import pulumi

from pipeline import envnames
from pipeline.evals.gate import EvalFigures
from pipeline.promotion import PROMOTED_FROM, Release, promoted_from_record, release_from_outputs

if TYPE_CHECKING:
    from infra.program import StackParts
    from infra.settings import StackSettings

SOURCE_STACK_RESOURCE: Final = "source-stack"
DEPLOYMENT_RESOURCE: Final = "promoted-deployment"
SMOKE_TEST_RESOURCE: Final = "smoke-test"
SERVED_RESOURCE: Final = "promoted-model-served"


@dataclass(frozen=True)
class PromotionSource:
    """Where the promoted model comes from: a validated release (model + owning account) and its stack, if any."""

    release: pulumi.Output[Release]
    stack: str | None
    reference: pulumi.StackReference | None = None
    figures: EvalFigures | None = None

    @property
    def model(self) -> pulumi.Output[str]:
        return self.release.apply(lambda r: r.model)

    @property
    def account_id(self) -> pulumi.Output[str]:
        return self.release.apply(lambda r: r.account_id)


def promotion_source(settings: StackSettings) -> PromotionSource:
    """The release to deploy: pinned config if set, else the source stack's outputs (validated when read)."""
    if settings.source_model:
        release = release_from_outputs("config", {
            envnames.FINE_TUNED_MODEL: settings.source_model,
            envnames.AZURE_OPENAI_ACCOUNT_ID: settings.source_account_id,
        })
        return PromotionSource(release=pulumi.Output.from_input(release), stack=None)
    stack = settings.source_stack
    reference = pulumi.StackReference(SOURCE_STACK_RESOURCE, stack_name=stack)
    outputs = pulumi.Output.all(
        model=reference.get_output(envnames.FINE_TUNED_MODEL),
        deployed=reference.get_output(envnames.DEPLOYED_MODEL),
        account_id=reference.get_output(envnames.AZURE_OPENAI_ACCOUNT_ID),
        promoted_from=reference.get_output(PROMOTED_FROM),
    )
    release = outputs.apply(lambda o: release_from_outputs(stack, {
        envnames.FINE_TUNED_MODEL: o["deployed"] or o["model"],  # what the source's EVAL_* figures measured
        envnames.AZURE_OPENAI_ACCOUNT_ID: o["account_id"],
        PROMOTED_FROM: o["promoted_from"],
    }))
    return PromotionSource(release=release, stack=stack, reference=reference)


def checked_promotion_source(settings: StackSettings) -> PromotionSource:
    """`promotion_source`, whose recorded evaluation must clear this stack's bar; call it before any resource
    (it waits for the source stack's outputs when it reads them by reference)."""
    from infra.quality_gate import check_source_quality, source_figures_by_reference

    source = promotion_source(settings)
    if settings.source_model or source.reference is None:
        figures = settings.pinned_eval_figures
        name = f"the pinned model {settings.source_model}"
    else:
        figures = source_figures_by_reference(source.reference)
        name = f"stack {source.stack}"
    check_source_quality(settings, source=name, figures=figures)
    return replace(source, figures=figures)


def add_promotion(settings: StackSettings, parts: StackParts, source: PromotionSource | None = None) -> dict[str, Any]:
    """Deploy the source model to this stack's account by `source`, smoke-test it; returns the outputs to export."""
    from infra.deployment import ServedModel, ServedModelArgs

    source = source or promotion_source(settings)
    model = source.model
    served = ServedModel(SERVED_RESOURCE, ServedModelArgs(
        account=parts.account, account_id=parts.account_id, resource_group_name=parts.resource_group_name,
        model_name=model, settings=settings, source_account_id=source.account_id, smoke_test=True,
        deployment_resource=DEPLOYMENT_RESOURCE, smoke_test_resource=SMOKE_TEST_RESOURCE,
    ))
    evaluation = source.figures.record() if source.figures is not None else None
    promoted_from = pulumi.Output.all(model, source.account_id).apply(
        lambda values: promoted_from_record(stack=source.stack, model=values[0], account_id=values[1],
                                            evaluation=evaluation))
    return {
        envnames.AZURE_OPENAI_DEPLOYMENT: served.deployment_name,
        envnames.FINE_TUNED_MODEL: model,
        envnames.SMOKE_TEST_ANSWER: served.answer,
        PROMOTED_FROM: promoted_from,
    }

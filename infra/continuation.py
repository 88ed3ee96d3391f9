"""Continuous fine-tuning from the model another stack trained (`continueFromStack`).

Azure continues training only from a model on the same resource, so the job runs on the account that holds the
model: the source stack's (its AZURE_OPENAI_ACCOUNT_ID output), read through a `StackReference` like promotion
does. The new model is then deployed to this stack's account by `source` (a cross-resource deployment), exactly
as a promoted model is. The model continued from is the source's DEPLOYED_MODEL (the one its evaluation measured),
else its FINE_TUNED_MODEL; its base model must be this stack's baseModel, which sets the token limits and prices
the dataset check uses.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Final

import pulumi

from pipeline import envnames
from pipeline.promotion import release_from_outputs

if TYPE_CHECKING:
    from infra.settings import StackSettings

CONTINUE_FROM_RESOURCE: Final = "continue-from-stack"


class ContinuationError(pulumi.RunError):
    """The source stack's model cannot be continued here; a clean message, no traceback."""


@dataclass(frozen=True)
class Continuation:
    """The fine-tuned model a stack continues training, and the account that holds it."""

    model: pulumi.Output[str]
    account_id: pulumi.Output[str]
    stack: str


def check_family(model: str, base_model: str, stack: str) -> str:
    """`model` if it is a fine-tuned model of `base_model`, else a `ContinuationError` saying how to fix it."""
    from pipeline.dataset.models import base_model as base_of

    if base_of(model) != base_model:
        raise ContinuationError(
            f"continueFromStack {stack} runs {model}, a model of {base_of(model)}, but baseModel is {base_model}; "
            f"nothing was trained\n  hint: pulumi config set aoai-finetune:baseModel {base_of(model)}")
    return model


def continuation(settings: StackSettings) -> Continuation | None:
    """The source stack's model and account when `continueFromStack` is set, else None."""
    stack = settings.continue_from_stack
    if not stack:
        return None
    reference = pulumi.StackReference(CONTINUE_FROM_RESOURCE, stack_name=stack)
    outputs = pulumi.Output.all(
        model=reference.get_output(envnames.FINE_TUNED_MODEL),
        deployed=reference.get_output(envnames.DEPLOYED_MODEL),
        account_id=reference.get_output(envnames.AZURE_OPENAI_ACCOUNT_ID),
    )

    def release(values: dict[str, Any]) -> Any:
        found = release_from_outputs(stack, {envnames.FINE_TUNED_MODEL: values["deployed"] or values["model"],
                                             envnames.AZURE_OPENAI_ACCOUNT_ID: values["account_id"]})
        check_family(found.model, settings.base_model, stack)
        return found

    checked = outputs.apply(release)
    return Continuation(model=checked.apply(lambda r: r.model), account_id=checked.apply(lambda r: r.account_id),
                        stack=stack)

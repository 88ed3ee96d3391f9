"""The train mode of the stack: dataset gate at program start, then fine-tuned model -> deployment -> smoke test
-> evaluation against the base model on the validation set (the quality gate, `infra.quality_gate`).

`check_datasets(settings)` runs before `build_stack`, so a bad dataset or a training estimate over
`maxTrainingCostUsd` stops `pulumi preview`/`up` before any resource (or invoke) is registered, with the
validation report in the error. `add_fine_tuning(settings, parts)` declares the resources and returns the
stack outputs it adds (names from `pipeline.envnames`).
"""
from __future__ import annotations

import io
from typing import Any, Final

import pulumi

from infra.deployment import ServedModel, ServedModelArgs
from infra.fine_tuned_model import FineTunedModel, FineTunedModelArgs
from infra.program import StackParts
from infra.settings import StackSettings
from pipeline import envnames
from pipeline.dataset.budget import check_budget
from pipeline.errors import BudgetExceeded, PipelineError

REPORT_WIDTH: Final = 110


class DatasetGateError(pulumi.RunError):
    """The datasets are invalid or would cost more than allowed; the message carries the report."""


def _render(report: Any) -> str:
    from rich.console import Console

    from pipeline.dataset import render_report

    buffer = io.StringIO()
    render_report(report, Console(file=buffer, width=REPORT_WIDTH, color_system=None, highlight=False))
    return buffer.getvalue().rstrip()


def check_datasets(settings: StackSettings) -> Any:
    """Validate the training/validation files and check the cost ceiling; returns the `ValidationReport`.

    Raises `DatasetGateError` (a `pulumi.RunError`: a clean message, no traceback) on any dataset error, an
    unreadable file, or an estimate above `maxTrainingCostUsd`.
    """
    from pipeline.dataset import ReportCache, default_prices, load_prices, validate_files

    paths = [settings.training_path] + ([settings.validation_path] if settings.validation_path else [])
    try:
        prices = load_prices(settings.prices_path) if settings.prices_path else default_prices()
        report = validate_files(paths, model=settings.base_model, prices=prices, n_epochs=settings.n_epochs,
                                cache=ReportCache())
    except PipelineError as exc:
        raise DatasetGateError(f"dataset check failed: {exc}") from None
    text = _render(report)
    if not report.ok:
        files = " ".join(str(p) for p in paths)
        raise DatasetGateError(
            f"the datasets have errors; nothing was created.\n{text}\n"
            f"  hint: fix the lines above (`aoai-ft validate {files}`), or point trainingFile/validationFile elsewhere"
        )
    reused = [f.path for f in report.files if f.from_cache]
    if reused:
        pulumi.log.info(f"dataset check: reused the cached report of {', '.join(reused)} (same content, model, "
                        "epochs and rules; only its hash was computed)")
    pulumi.log.info(f"dataset check passed:\n{text}")
    try:
        if report.estimate is not None:
            check_budget(report.estimate, settings.max_training_cost_usd, limit_name="maxTrainingCostUsd",
                         hint="raise it with `pulumi config set aoai-finetune:maxTrainingCostUsd <usd>`, or train "
                              "on fewer tokens/epochs (nEpochs)")
    except BudgetExceeded as exc:
        raise DatasetGateError(f"{exc.message}; nothing was created.\n  hint: {exc.hint}") from None
    return report


def add_fine_tuning(settings: StackSettings, parts: StackParts) -> dict[str, Any]:
    """FineTunedModel (upload + train) -> ServedModel (deployment + smoke test) -> evaluation; returns the outputs
    to merge into the stack's."""
    from pipeline.files import content_hash

    account = parts.account
    validation = settings.validation_path
    model = FineTunedModel(
        "fine-tuned-model",
        FineTunedModelArgs(
            account_id=parts.account_id,
            training_path=str(settings.training_path),
            training_sha256=content_hash(settings.training_path),
            validation_path=str(validation) if validation else None,
            validation_sha256=content_hash(validation) if validation else None,
            training=settings.training,
            timeout_minutes=settings.training_timeout_minutes,
        ),
        # keyless mode trains with the runner's Entra identity: it needs its role assignments first
        opts=pulumi.ResourceOptions(depends_on=[account.account, *account.role_assignments.values()]),
    )
    served = ServedModel("fine-tuned-model-served", ServedModelArgs(
        account=account, account_id=parts.account_id, resource_group_name=parts.resource_group_name,
        model_name=model.fine_tuned_model, settings=settings, smoke_test=settings.smoke_test,
    ))
    outputs: dict[str, Any] = {
        envnames.AZURE_OPENAI_DEPLOYMENT: served.deployment_name,
        envnames.FINE_TUNED_MODEL: model.fine_tuned_model,
        envnames.FINE_TUNING_JOB_ID: model.job_id,
    }
    if served.answer is not None:
        outputs[envnames.SMOKE_TEST_ANSWER] = served.answer
    from infra.quality_gate import add_evaluation

    outputs.update(add_evaluation(settings, parts, served=served, model=model.fine_tuned_model))
    return outputs

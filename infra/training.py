"""The train mode of the stack: dataset gate at program start, then fine-tuned model -> deployment -> smoke test
-> evaluation against the base model on the validation set (the quality gate, `infra.quality_gate`).

What is deployed is the job's final model, or with deployCheckpoint one of the checkpoints the job kept, picked
from the FineTunedModel's `checkpoints` output (`deployed_model`): the training resource's inputs never name the
checkpoint, so choosing another one changes only the deployment, its smoke test and the evaluation.

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
from infra.settings import PROJECT_NAME, StackSettings
from pipeline import envnames
from pipeline.dataset.budget import check_budget
from pipeline.errors import BudgetExceeded, PipelineError
from pipeline.jobs import FINAL

REPORT_WIDTH: Final = 110


class DatasetGateError(pulumi.RunError):
    """The datasets are invalid or would cost more than allowed; the message carries the report."""


class CheckpointChoiceError(pulumi.RunError):
    """deployCheckpoint names a model the job does not have; raised before anything is deployed."""


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
                                cache=ReportCache(), method=settings.training_method)
    except PipelineError as exc:
        raise DatasetGateError(f"dataset check failed: {exc}") from None
    text = _render(report)
    if not report.ok:
        files = " ".join(str(p) for p in paths)
        hint = f"fix the lines above (`aoai-ft validate {files}`), or point trainingFile/validationFile elsewhere"
        if any("format_mismatch" in f.error_counts for f in report.files):
            other = "supervised" if settings.training_method == "dpo" else "dpo"
            hint = (f"trainingMethod is {settings.training_method}: give files in its format, or "
                    f"`pulumi config set {PROJECT_NAME}:trainingMethod {other}`")
        raise DatasetGateError(f"the datasets have errors; nothing was created.\n{text}\n  hint: {hint}")
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


def deployed_model(settings: StackSettings, model: FineTunedModel) -> pulumi.Output[str]:
    """The model deployCheckpoint names: the final model itself, or picked from the job's recorded checkpoints once
    they are known (a step the job did not keep fails the `up` here, with the steps it kept)."""
    if settings.checkpoint_choice == FINAL:
        return model.fine_tuned_model  # exactly the wiring of a stack without deployCheckpoint
    return pulumi.Output.all(model.job_id, model.checkpoints).apply(
        lambda values: _choose(settings, job_id=values[0], recorded=values[1]))


def _choose(settings: StackSettings, *, job_id: str, recorded: list[dict[str, Any]] | None) -> str:
    from pipeline.jobs import Checkpoint, choose_checkpoint

    hint = (f"pulumi config set {PROJECT_NAME}:deployCheckpoint <step>   (or final, or best-validation-loss; "
            f"`aoai-ft status {job_id}` lists the checkpoints)")
    if recorded is None:  # state written before checkpoints were recorded, or the service did not answer then
        raise CheckpointChoiceError(
            f"{PROJECT_NAME}:deployCheckpoint is {settings.deploy_checkpoint}, but the stack has not recorded the "
            f"checkpoints of job {job_id} yet; nothing was deployed\n  hint: run `pulumi refresh` once to read "
            "them, then `pulumi up` again")
    try:
        chosen = choose_checkpoint(settings.checkpoint_choice, [Checkpoint.model_validate(point) for point in recorded],
                                   job_id=job_id)
    except PipelineError as exc:
        raise CheckpointChoiceError(f"{PROJECT_NAME}:deployCheckpoint: {exc.message}; nothing was deployed\n"
                                    f"  hint: {hint}") from None
    loss = f", validation loss {chosen.valid_loss:.4f}" if chosen.valid_loss is not None else ""
    pulumi.log.info(f"deployCheckpoint {settings.deploy_checkpoint}: deploying {chosen.model} (step {chosen.step}"
                    f"{loss})")
    return chosen.model


def add_fine_tuning(settings: StackSettings, parts: StackParts) -> dict[str, Any]:
    """FineTunedModel (upload + train) -> ServedModel (deployment + smoke test) -> evaluation; returns the outputs
    to merge into the stack's."""
    from pipeline.files import content_hash

    from infra.continuation import continuation

    account = parts.account
    validation = settings.validation_path
    source = continuation(settings)  # continueFromStack: train where that stack's model lives
    model = FineTunedModel(
        "fine-tuned-model",
        FineTunedModelArgs(
            account_id=source.account_id if source is not None else parts.account_id,
            model=source.model if source is not None else None,
            training_path=str(settings.training_path),
            training_sha256=content_hash(settings.training_path),
            validation_path=str(validation) if validation else None,
            validation_sha256=content_hash(validation) if validation else None,
            training=settings.training,
            timeout_minutes=settings.training_timeout_minutes,
        ),
        # keyless mode trains with the runner's Entra identity: it needs its role assignments first (and the private
        # endpoint with its DNS, when the account is reachable only through it)
        opts=pulumi.ResourceOptions(depends_on=[account.account, *account.data_plane_access]),
    )
    deployed = deployed_model(settings, model)
    served = ServedModel("fine-tuned-model-served", ServedModelArgs(
        account=account, account_id=parts.account_id, resource_group_name=parts.resource_group_name,
        model_name=deployed, settings=settings, smoke_test=settings.smoke_test,
        source_account_id=source.account_id if source is not None else None,
    ))
    outputs: dict[str, Any] = {
        envnames.AZURE_OPENAI_DEPLOYMENT: served.deployment_name,
        envnames.FINE_TUNED_MODEL: model.fine_tuned_model,
        envnames.DEPLOYED_MODEL: deployed,
        envnames.FINE_TUNING_JOB_ID: model.job_id,
    }
    if served.answer is not None:
        outputs[envnames.SMOKE_TEST_ANSWER] = served.answer
    from infra.quality_gate import add_evaluation

    outputs.update(add_evaluation(settings, parts, served=served, model=deployed))
    return outputs

"""The whole training step as one idempotent call: upload (dedup) + start or adopt a job + wait for the model.

This is what the stack's fine-tuned-model resource calls on create, and what it undoes on delete.
"""
from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

import openai
from openai.types.fine_tuning import FineTuningJob
from pydantic import BaseModel

from pipeline.clients import describe_api_error, service_errors
from pipeline.errors import ServiceError
from pipeline.files import delete_file, upload_file
from pipeline.jobs import JobProgress, TrainingSpec, start_or_adopt, wait_for_job
from pipeline.training_settings import TrainingSettings


class FineTuneRequest(TrainingSettings):
    """The training settings plus local dataset paths (uploaded, content-deduplicated, by the call)."""

    training_path: Path
    validation_path: Path | None = None

    def spec(self, training_file: str, validation_file: str | None) -> TrainingSpec:
        return TrainingSpec(**self.training_settings().model_dump(), training_file=training_file,
                            validation_file=validation_file)


class FineTuneResult(BaseModel):
    """What a finished training produced; plain strings so it can live in Pulumi state."""

    job_id: str
    fine_tuned_model: str
    training_file_id: str
    validation_file_id: str | None = None
    trained_tokens: int | None = None
    base_model: str
    result_file_id: str | None = None


class CleanupReport(BaseModel):
    """What `delete_fine_tuned_model` removed (`model_deleted` is None when the service has no delete call)."""

    model_deleted: bool | None
    files_deleted: list[str] = []


def ensure_fine_tuned_model(
    client: openai.AzureOpenAI,
    request: FineTuneRequest,
    *,
    timeout: float,
    on_update: Callable[[JobProgress], None] | None = None,
    on_job: Callable[[FineTuningJob, bool], None] | None = None,
    poll_interval: float = 10,
    sleep: Callable[[float], None] = time.sleep,
) -> FineTuneResult:
    """Upload the files (skipping known content), start or adopt the job, and wait for the fine-tuned model.

    `timeout` covers the whole call; on expiry `JobStillRunning` says how to resume. `on_job(job, adopted)` is
    called once the job is known, before the long wait; `sleep` is passed on to `wait_for_job`.
    """
    deadline = time.monotonic() + timeout
    file_poll = min(poll_interval, 2.0)
    training = upload_file(client, request.training_path, timeout=timeout, poll_interval=file_poll).file
    validation = None
    if request.validation_path is not None:
        validation = upload_file(client, request.validation_path, timeout=max(deadline - time.monotonic(), 1.0),
                                 poll_interval=file_poll).file
    job, adopted = start_or_adopt(client, request.spec(training.id, validation.id if validation else None))
    if on_job is not None:
        on_job(job, adopted)
    job = wait_for_job(client, job.id, timeout=max(deadline - time.monotonic(), 0.0),
                       poll_interval=poll_interval, on_update=on_update, sleep=sleep)
    if not job.fine_tuned_model:
        raise ServiceError(f"job {job.id} succeeded but reports no fine_tuned_model",
                           hint=f"inspect it with `aoai-ft status {job.id}`")
    return FineTuneResult(
        job_id=job.id, fine_tuned_model=job.fine_tuned_model, training_file_id=training.id,
        validation_file_id=validation.id if validation else None, trained_tokens=job.trained_tokens,
        base_model=job.model, result_file_id=job.result_files[0] if job.result_files else None,
    )


def delete_fine_tuned_model(client: openai.AzureOpenAI, result: FineTuneResult) -> CleanupReport:
    """Delete the fine-tuned model (best effort: Azure's data plane may not offer it) and the uploaded files.

    A model still used by a deployment cannot be deleted: that is an error, so delete the deployment first.
    """
    model_deleted: bool | None
    try:
        client.models.delete(result.fine_tuned_model)
        model_deleted = True
    except openai.NotFoundError:
        model_deleted = False  # already gone
    except openai.APIStatusError as exc:
        if exc.status_code in (400, 405, 422):
            model_deleted = None  # the api-version has no model delete: leave the model, as the docs allow
        elif exc.status_code == 409:
            raise ServiceError(f"model {result.fine_tuned_model} cannot be deleted: {describe_api_error(exc)}",
                               hint="delete its deployments first (`aoai-ft deploy --delete ...`)") from exc
        else:
            with service_errors(f"deleting model {result.fine_tuned_model}"):
                raise
    except openai.APIError:
        with service_errors(f"deleting model {result.fine_tuned_model}"):
            raise
    deleted: list[str] = []
    for file_id in (result.training_file_id, result.validation_file_id, result.result_file_id):
        if file_id and delete_file(client, file_id):
            deleted.append(file_id)
    return CleanupReport(model_deleted=model_deleted, files_deleted=deleted)

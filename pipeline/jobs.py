"""Start a fine-tuning job, or adopt the one already running for the same inputs, and follow it to the end;
then read the checkpoints it kept and pick the one to deploy.

Adoption makes `aoai-ft train` and `pulumi up` safe to re-run: a job with the same model, files and settings that
has not failed or been cancelled (a succeeded one included) is reused instead of paying for a second training.
"""
from __future__ import annotations

import re
import time
from collections.abc import Callable, Sequence
from typing import Any, Final

import openai
from openai.types.fine_tuning import FineTuningJob
from pydantic import BaseModel

from pipeline.clients import describe_api_error, service_errors
from pipeline.errors import PipelineError, ServiceError, UsageError
from pipeline.training_settings import PREVIEW_API_VERSION, TrainingSettings

TERMINAL_STATUSES = frozenset({"succeeded", "failed", "cancelled"})
NOT_ADOPTABLE = frozenset({"failed", "cancelled"})
ADOPTION_SCAN_LIMIT = 100  # the service keeps at most 100 jobs per resource (Learn: quotas and limits)


class TrainingSpec(TrainingSettings):
    """What to train: the settings plus the uploaded file ids; two jobs with equal specs are the same job."""

    training_file: str
    validation_file: str | None = None


class JobProgress(BaseModel):
    """One observation of a running job, for progress displays."""

    job_id: str
    status: str
    step: int | None = None
    total_steps: int | None = None
    train_loss: float | None = None
    valid_loss: float | None = None
    reward_accuracy: float | None = None  # DPO: how often the preferred reply scores higher (training batch)
    elapsed: float = 0.0  # seconds since the job was created; for a finished job, how long it ran
    remaining: float | None = None  # seconds until the service's estimated_finish; None once finished
    fine_tuned_model: str | None = None
    note: str | None = None  # e.g. "connection lost, still polling"


class JobStillRunning(PipelineError):
    """We stopped waiting (deadline or Ctrl-C) but the job goes on; the hint says how to pick it up again."""

    exit_code = 3

    def __init__(self, job_id: str, status: str | None, reason: str, *, exit_code: int | None = None) -> None:
        if exit_code is not None:
            self.exit_code = exit_code
        state = f"is still {status}" if status else "could not be checked"
        # on Ctrl-C the CLI itself says that waiting stopped; the reason would only repeat it
        message = (f"fine-tuning job {job_id} {state} on the service" if self.interrupted
                   else f"fine-tuning job {job_id} {state} ({reason}); it keeps running on the service")
        super().__init__(
            message,
            hint=f"follow it with `aoai-ft status {job_id}`, or run the same `aoai-ft train ...` command again "
                 "to adopt it and wait for the result",
        )
        self.job_id, self.status = job_id, status


def _same(wanted: object, actual: object) -> bool:
    """A setting the spec leaves unset matches whatever the service chose."""
    if wanted is None:
        return True
    if isinstance(wanted, float) and isinstance(actual, (int, float)):
        return abs(wanted - actual) < 1e-9
    return wanted == actual


def job_method(job: FineTuningJob) -> tuple[str, float | None]:
    """(method type, DPO beta) of a job; a job without `method` (GA api-versions) is supervised."""
    method = getattr(job, "method", None)
    kind = getattr(method, "type", None) or "supervised"
    dpo = getattr(method, "dpo", None) if kind == "dpo" else None
    return kind, getattr(getattr(dpo, "hyperparameters", None), "beta", None)


def matches(job: FineTuningJob, spec: TrainingSpec) -> bool:
    """Same base model, method, files and settings (suffix and seed included when the spec sets them)."""
    hp = job.hyperparameters
    kind, beta = job_method(job)
    if kind == "dpo":
        hp = getattr(getattr(job.method, "dpo", None), "hyperparameters", None) or hp
    return (
        job.model == spec.model
        and kind == spec.method
        and _same(spec.beta, beta)
        and job.training_file == spec.training_file
        and (job.validation_file or None) == spec.validation_file
        and _same(spec.n_epochs, getattr(hp, "n_epochs", None))
        and _same(spec.batch_size, getattr(hp, "batch_size", None))
        and _same(spec.learning_rate_multiplier, getattr(hp, "learning_rate_multiplier", None))
        and (spec.suffix is None or getattr(job, "suffix", None) == spec.suffix
             or (job.fine_tuned_model or "").endswith(f"-{spec.suffix}"))
        and _same(spec.seed, job.seed)
    )


def method_surface(client: openai.AzureOpenAI, spec: TrainingSettings) -> dict[str, Any]:
    """Request options for a DPO job: `method` exists on preview api-versions and v1 only, so a client on a dated
    GA version asks for the newest dated preview for this call (a preview or v1 client is left as it is)."""
    if spec.method == "supervised":
        return {}
    version = str(client.default_query.get("api-version") or "")
    if re.fullmatch(r"\d{4}-\d{2}-\d{2}", version):
        return {"extra_query": {"api-version": PREVIEW_API_VERSION}}
    return {}


def find_adoptable_job(client: openai.AzureOpenAI, spec: TrainingSpec) -> FineTuningJob | None:
    """The newest job for the same inputs that has not failed or been cancelled."""
    found: list[FineTuningJob] = []
    with service_errors("listing fine-tuning jobs"):
        for index, job in enumerate(client.fine_tuning.jobs.list(limit=50, **method_surface(client, spec))):
            if index >= ADOPTION_SCAN_LIMIT:
                break
            if job.status not in NOT_ADOPTABLE and matches(job, spec):
                found.append(job)
    return max(found, key=lambda j: j.created_at, default=None)


def start_or_adopt(client: openai.AzureOpenAI, spec: TrainingSpec) -> tuple[FineTuningJob, bool]:
    """(job, adopted): the matching existing job, or a newly created one."""
    existing = find_adoptable_job(client, spec)
    if existing is not None:
        return existing, True
    kwargs: dict[str, object] = {"model": spec.model, "training_file": spec.training_file}
    if spec.validation_file:
        kwargs["validation_file"] = spec.validation_file
    method = spec.method_body()
    if method is not None:
        kwargs["method"] = method
        kwargs.update(method_surface(client, spec))
    elif spec.hyperparameters():
        kwargs["hyperparameters"] = spec.hyperparameters()
    if spec.suffix is not None:
        kwargs["suffix"] = spec.suffix
    if spec.seed is not None:
        kwargs["seed"] = spec.seed
    try:
        return client.fine_tuning.jobs.create(**kwargs), False  # type: ignore[arg-type]
    except (openai.RateLimitError, openai.ConflictError) as exc:
        raise ServiceError(
            f"the service did not start the job: {describe_api_error(exc)}",
            hint="one job runs at a time per resource: wait for the running one (`aoai-ft status`) or cancel it",
        ) from exc
    except openai.BadRequestError as exc:
        raise ServiceError(f"the service refused the job: {describe_api_error(exc)}",
                           hint="check --model, the file ids and the hyperparameters") from exc
    except openai.APIError:
        with service_errors("creating the fine-tuning job"):
            raise


def latest_metrics(client: openai.AzureOpenAI, job_id: str, *, limit: int = 20) -> dict[str, float]:
    """`data` of the newest metrics event (step, train_loss, valid_loss, total_steps, ...); {} if none yet."""
    events = client.fine_tuning.jobs.list_events(job_id, limit=limit)
    best: dict[str, float] = {}
    best_step = -1
    for event in events.data:  # one page is enough: newest events come first
        data = event.data if isinstance(event.data, dict) else None
        if getattr(event, "type", None) == "metrics" and data and "step" in data:
            step = int(data["step"])
            if step > best_step:
                best, best_step = dict(data), step
    return best


def progress_of(job: FineTuningJob, metrics: dict[str, float], now: float, note: str | None = None) -> JobProgress:
    """A `JobProgress` from a job, its latest metrics event data and the current unix time.

    A finished job's clock stops at its `finished_at`: its elapsed time is how long it ran, however long ago
    that was, and nothing remains."""
    def number(key: str) -> float | None:
        value = metrics.get(key)
        return float(value) if isinstance(value, (int, float)) else None

    step, total = number("step"), number("total_steps")
    finished = job.finished_at if job.status in TERMINAL_STATUSES and job.finished_at else None
    return JobProgress(
        job_id=job.id, status=job.status, step=int(step) if step is not None else None,
        total_steps=int(total) if total is not None else None,
        train_loss=number("train_loss"), valid_loss=number("valid_loss"),
        reward_accuracy=number("train_reward_accuracy"),
        elapsed=max(0.0, (finished if finished is not None else now) - job.created_at),
        remaining=max(0.0, job.estimated_finish - now) if job.estimated_finish and finished is None else None,
        fine_tuned_model=job.fine_tuned_model, note=note,
    )


def raise_for_outcome(job: FineTuningJob) -> FineTuningJob:
    """Return a succeeded job; a failed or cancelled one becomes a `ServiceError` carrying the job's error."""
    if job.status == "failed":
        err = job.error
        detail = f"{err.code}: {err.message}" if err and (err.code or err.message) else "no error details given"
        param = f" (param: {err.param})" if err and err.param else ""
        raise ServiceError(f"fine-tuning job {job.id} failed: {detail}{param}",
                           hint="fix the cause, then run `aoai-ft train` again (failed jobs are never adopted)")
    if job.status == "cancelled":
        raise ServiceError(f"fine-tuning job {job.id} was cancelled",
                           hint="run `aoai-ft train` again to start a new job")
    return job


def wait_for_job(
    client: openai.AzureOpenAI,
    job_id: str,
    *,
    timeout: float,
    poll_interval: float = 10,
    on_update: Callable[[JobProgress], None] | None = None,
    max_poll_interval: float | None = None,
    sleep: Callable[[float], None] = time.sleep,
) -> FineTuningJob:
    """Poll until the job ends; back off while nothing changes, poll quickly again when it does.

    `sleep` waits between polls; a caller that must stop waiting early (its process is shutting down) passes
    one that raises.

    Transient failures that outlast the SDK's own retries (the endpoint restarting, throttling) do not end the
    wait: they are reported through `on_update` and polling continues until the deadline.
    """
    ceiling = max_poll_interval if max_poll_interval is not None else max(poll_interval, min(60.0, poll_interval * 6))
    deadline = time.monotonic() + timeout
    interval = poll_interval
    last_seen: tuple[object, ...] | None = None
    job: FineTuningJob | None = None
    last_error: str | None = None
    while True:
        note = None
        try:
            job = client.fine_tuning.jobs.retrieve(job_id)
            metrics = latest_metrics(client, job_id) if job.status not in ("pending", "queued", "created") else {}
        except openai.NotFoundError as exc:
            raise ServiceError(f"fine-tuning job {job_id} not found: {describe_api_error(exc)}",
                               hint="check the job id (`aoai-ft status` lists jobs) and the endpoint") from exc
        except (openai.AuthenticationError, openai.PermissionDeniedError, openai.BadRequestError):
            with service_errors(f"checking job {job_id}"):
                raise
        except (openai.APIConnectionError, openai.APIStatusError) as exc:
            last_error = describe_api_error(exc)
            note = f"service unavailable, still polling ({last_error})"
            metrics = {}
        if job is not None and on_update is not None:
            on_update(progress_of(job, metrics, time.time(), note))
        if note is None and job is not None and job.status in TERMINAL_STATUSES:
            return raise_for_outcome(job)
        seen = (job.status if job else None, metrics.get("step"), note is None)
        interval = poll_interval if seen != last_seen else min(interval * 1.5, ceiling)
        last_seen = seen
        left = deadline - time.monotonic()
        if left <= 0:
            reason = f"waited {timeout:g} s" + (f"; the last check failed: {last_error}" if note else "")
            raise JobStillRunning(job_id, job.status if job is not None and note is None else None, reason)
        sleep(min(interval, left))


# ----- checkpoints: the kept epochs of a finished job, and which one to deploy ----------------------------------
FINAL: Final = "final"
BEST_VALIDATION_LOSS: Final = "best-validation-loss"
CHECKPOINT_CHOICES: Final = f"{FINAL}, {BEST_VALIDATION_LOSS}, or a step number such as 300"


class Checkpoint(BaseModel):
    """One deployable model of a finished job: a kept checkpoint (`<model>:ckpt-step-N`) or, with `final`, the
    job's fine_tuned_model itself. Plain values, so a list of them can live in Pulumi state."""

    step: int
    model: str
    train_loss: float | None = None
    valid_loss: float | None = None
    """The loss on the whole validation file when the service reports it (full_valid_loss), else on the last
    validation batch (valid_loss); None when the job trained without a validation file."""
    final: bool = False


class CheckpointNotAvailable(UsageError):
    """The requested checkpoint is not among the ones the job kept; the message lists those."""


def parse_checkpoint_choice(value: str | int) -> str | int:
    """`final`, `best-validation-loss`, or a positive step number (int); a ValueError saying what is allowed."""
    text = str(value).strip()
    if text in (FINAL, BEST_VALIDATION_LOSS):
        return text
    if text.isdigit() and int(text) >= 1:
        return int(text)
    raise ValueError(f"must be {CHECKPOINT_CHOICES}")


def _metric(metrics: Any, *names: str) -> float | None:
    """The first of `names` the metrics report as a number (SDK object or plain dict)."""
    for name in names:
        value = metrics.get(name) if isinstance(metrics, dict) else getattr(metrics, name, None)
        if isinstance(value, (int, float)):
            return float(value)
    return None


def list_checkpoints(client: openai.AzureOpenAI, job_id: str, *, final_model: str | None = None) -> list[Checkpoint]:
    """The checkpoints the service kept for `job_id`, by step; with `final_model`, the job's final model too, last.

    The final model counts as the job's last step (the newest metrics event of the finished job): its losses are
    those of the kept checkpoint at that step, or else of that metrics event. Without any metrics event, the
    newest kept checkpoint is taken as the last step.
    """
    with service_errors(f"reading the checkpoints of job {job_id}"):
        kept = [
            Checkpoint(step=int(point.step_number), model=point.fine_tuned_model_checkpoint,
                       train_loss=_metric(point.metrics, "train_loss"),
                       valid_loss=_metric(point.metrics, "full_valid_loss", "valid_loss"))
            for point in client.fine_tuning.jobs.checkpoints.list(job_id, limit=100)
        ]
        kept.sort(key=lambda point: point.step)
        if final_model is None:
            return kept
        metrics = latest_metrics(client, job_id)
    step = int(metrics["step"]) if "step" in metrics else (kept[-1].step if kept else 0)
    same = next((point for point in kept if point.step == step), None)
    final = Checkpoint(
        step=step, model=final_model, final=True,
        train_loss=same.train_loss if same else _metric(metrics, "train_loss"),
        valid_loss=same.valid_loss if same else _metric(metrics, "full_valid_loss", "valid_loss"),
    )
    return [*kept, final]


def _kept_steps(points: Sequence[Checkpoint]) -> str:
    """"10, 20, 30 (the final model)": every step there is a model of, for an error message."""
    final_steps = {point.step for point in points if point.final}
    return ", ".join(f"{step} (the final model)" if step in final_steps else str(step)
                     for step in sorted({point.step for point in points})) or "none"


def choose_checkpoint(choice: str | int, checkpoints: Sequence[Checkpoint], *, job_id: str) -> Checkpoint:
    """The checkpoint `choice` names among `checkpoints` (as `list_checkpoints(..., final_model=...)` returns).

    `final` is the final model; a step is the model of that step (the final model for the last step); and
    `best-validation-loss` the one with the lowest validation loss, the later one on a tie, so the final model
    wins over an equal earlier checkpoint.
    """
    choice = parse_checkpoint_choice(choice)
    final = next((point for point in checkpoints if point.final), None)
    if choice == FINAL:
        if final is None:
            raise CheckpointNotAvailable(f"job {job_id} has no final model recorded")
        return final
    if choice == BEST_VALIDATION_LOSS:
        measured = [point for point in checkpoints if point.valid_loss is not None]
        if not measured:
            raise CheckpointNotAvailable(
                f"job {job_id} reports no validation loss for its checkpoints, so none is best-validation-loss",
                hint="train with a validation file, or choose final or a step")
        return min(measured, key=lambda point: (point.valid_loss, -point.step, not point.final))
    at_step = sorted((point for point in checkpoints if point.step == choice), key=lambda point: not point.final)
    if not at_step:
        raise CheckpointNotAvailable(
            f"job {job_id} has no checkpoint at step {choice}; the service kept steps {_kept_steps(checkpoints)}",
            hint=f"choose one of those steps, {FINAL} or {BEST_VALIDATION_LOSS}")
    return at_step[0]

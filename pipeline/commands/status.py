"""`aoai-ft status`: one job's state, recent events and checkpoints (or the recent jobs when no id is given)."""
from __future__ import annotations

import datetime as dt
import time

import click

from pipeline.commands._options import connection_options, console, job_id_given


def _when(ts: int | float | None) -> str:
    return dt.datetime.fromtimestamp(ts, dt.timezone.utc).strftime("%Y-%m-%d %H:%M:%S UTC") if ts else "-"


@click.command("status")
@click.argument("job_id", required=False, callback=job_id_given)
@click.option("--events", "n_events", type=click.IntRange(0, 100), default=10, show_default=True,
              help="How many of the newest events to show.")
@click.option("--checkpoints/--no-checkpoints", default=True, show_default=True, help="List the job's checkpoints.")
@connection_options
def status(job_id: str | None, n_events: int, checkpoints: bool, client_factory) -> None:
    """Show JOB_ID's status, fine-tuned model, hyperparameters, newest events and checkpoints.

    Without JOB_ID, list the resource's recent fine-tuning jobs.

    \b
    Examples:
      aoai-ft status
      aoai-ft status ftjob-0123456789abcdef0123456789abcdef --events 20
    """
    from rich.table import Table

    from pipeline.clients import service_errors
    from pipeline.jobs import latest_metrics, progress_of
    from pipeline.progress import describe

    out = console()
    client = client_factory()
    if job_id is None:
        with service_errors("listing fine-tuning jobs"):
            jobs = list(client.fine_tuning.jobs.list(limit=20))
        table = Table("job", "status", "model", "fine-tuned model", "created")
        for job in jobs:
            table.add_row(job.id, job.status, job.model, job.fine_tuned_model or "-", _when(job.created_at))
        out.print(table if jobs else "no fine-tuning jobs on this resource")
        return
    with service_errors(f"reading job {job_id}"):
        job = client.fine_tuning.jobs.retrieve(job_id)
        metrics = latest_metrics(client, job_id) if job.status not in ("pending", "queued", "created") else {}
    out.print(f"[bold]{job.id}[/]: {describe(progress_of(job, metrics, time.time()))}")
    hp = job.hyperparameters
    rows = [("status", job.status), ("base model", job.model), ("fine-tuned model", job.fine_tuned_model or "-"),
            ("training file", job.training_file), ("validation file", job.validation_file or "-"),
            ("hyperparameters", f"n_epochs={hp.n_epochs} batch_size={hp.batch_size} "
                                f"learning_rate_multiplier={hp.learning_rate_multiplier}"),
            ("seed", str(job.seed)), ("trained tokens", f"{job.trained_tokens:,}" if job.trained_tokens else "-"),
            ("result files", ", ".join(job.result_files) or "-"),
            ("created", _when(job.created_at)), ("finished", _when(job.finished_at))]
    if job.error and (job.error.code or job.error.message):
        rows.append(("error", f"{job.error.code}: {job.error.message}"))
    table = Table(show_header=False)
    for key, value in rows:
        table.add_row(key, value)
    out.print(table)
    if n_events:
        with service_errors(f"reading events of {job_id}"):
            events = client.fine_tuning.jobs.list_events(job_id, limit=n_events).data
        table = Table("time", "level", "message", title="events (newest first)")
        for event in events[:n_events]:
            table.add_row(_when(event.created_at), event.level, event.message)
        out.print(table)
    if checkpoints:
        with service_errors(f"reading checkpoints of {job_id}"):
            points = client.fine_tuning.jobs.checkpoints.list(job_id).data
        if points:
            table = Table("checkpoint", "step", "deployable model", "train_loss", title="checkpoints")
            for point in points:
                loss = getattr(point.metrics, "train_loss", None)
                table.add_row(point.id, f"{point.step_number:,}", point.fine_tuned_model_checkpoint,
                              f"{loss:.4f}" if loss is not None else "-")
            out.print(table)

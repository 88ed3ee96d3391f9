"""`aoai-ft train`: start a fine-tuning job, or adopt the one already running for the same inputs, and follow it."""
from __future__ import annotations

from pathlib import Path

import click

from pipeline import envnames
from pipeline.commands._options import connection_options, console
from pipeline.envfile import format_exports
from pipeline.training_settings import DEFAULT_MODEL


def _local_file(value: str | None) -> Path | None:
    """The checked local path `value` names, or None for a file id (or no file): a path that is missing, a
    directory or unreadable is a `UsageError` here, before anything is uploaded."""
    from pipeline.errors import UsageError
    from pipeline.files import check_local_file

    if value is None:
        return None
    if not value.strip():  # e.g. an unset variable; Path("") would be the current directory
        raise UsageError("the file name is empty", hint="pass an existing .jsonl path or an uploaded file id (file-...)")
    path = Path(value)
    if path.exists() or path.is_symlink():  # a local path, whatever it is, is never sent as a file id
        check_local_file(path)
        return path
    if path.suffix in (".jsonl", ".json") or "/" in value or "\\" in value:
        raise UsageError(f"no such file: {value}", hint="pass an existing .jsonl path or an uploaded file id (file-...)")
    return None


def _resolve_file(client, value: str | None, path: Path | None, *, timeout: float, poll_interval: float,
                  out) -> str | None:
    """A local `path` is uploaded (or its earlier upload reused) and its check awaited, polled every `poll_interval`
    seconds (2 s at most: files take seconds, not hours); otherwise `value` is the file id."""
    from pipeline.commands.upload import upload_showing_progress

    if path is None:
        return value
    result = upload_showing_progress(out, client, path, timeout=timeout, poll_interval=min(poll_interval, 2.0))
    out.print(f"{path}: {'already uploaded' if result.reused else 'uploaded'} as {result.file.id}")
    return result.file.id


def _file_method(value: str) -> str:
    """The method a local training file's format is for (its first example line); a file id trains supervised."""
    from pipeline.dataset.preference import first_format

    path = Path(value)
    try:
        return first_format(path).method if path.is_file() else "supervised"
    except OSError:  # unreadable: the upload step says so, with its hint
        return "supervised"


@click.command("train")
@click.option("--training-file", "-t", required=True, metavar="ID|PATH",
              help="Uploaded file id, or a local JSONL path to upload first (skipped if already uploaded).")
@click.option("--validation-file", "-v", metavar="ID|PATH", help="Validation file id or local path.")
@click.option("--model", "-m", default=DEFAULT_MODEL, show_default=True,
              help="Base model to fine-tune, or a fine-tuned model of this resource to continue training.")
@click.option("--suffix", help="Up to 40 characters of a-z A-Z 0-9 - _ added to the fine-tuned model's name.")
@click.option("--n-epochs", "--epochs", "n_epochs", type=click.IntRange(min=1),
              help="Epochs (default: the service decides). Same meaning as validate/estimate --epochs.")
@click.option("--batch-size", type=click.IntRange(min=1), help="Batch size (default: the service decides).")
@click.option("--learning-rate-multiplier", type=click.FloatRange(min=0, min_open=True),
              help="Learning-rate multiplier (default: the service decides).")
@click.option("--seed", type=int, help="Seed for reproducible training.")
@click.option("--method", "method", type=click.Choice(["supervised", "dpo"]), default=None,
              help="supervised: chat examples; dpo: preference pairs (direct preference optimization, for the models "
                   "`aoai-ft validate --method dpo` accepts). Default: the local training file's format, else "
                   "supervised.")
@click.option("--beta", type=click.FloatRange(min=0, max=2, min_open=True),
              help="DPO only: how far the model may move from the one it starts from (small = further; default: "
                   "the service decides).")
@click.option("--timeout", type=click.FloatRange(min=1), default=6 * 3600, show_default=True,
              help="Seconds to wait for the job; it keeps running on the service after that.")
@click.option("--poll-interval", type=click.FloatRange(min=0.05), default=2, show_default=True,
              help="Seconds between status checks (backs off to 6x while nothing changes, at most 60 s).")
@click.option("--detach", is_flag=True, help="Start (or adopt) the job and return without waiting.")
@click.option("--export", "export", is_flag=True,
              help="When the job succeeds, print `export FINE_TUNING_JOB_ID=… FINE_TUNED_MODEL=…` on stdout (all "
                   "else on stderr), for `eval \"$(aoai-ft train … --export)\"`; the names `aoai-ft env` sets.")
@connection_options
def train(training_file: str, validation_file: str | None, model: str, suffix: str | None, n_epochs: int | None,
          batch_size: int | None, learning_rate_multiplier: float | None, seed: int | None, method: str | None,
          beta: float | None, timeout: float, poll_interval: float, detach: bool, export: bool,
          client_factory) -> None:
    """Start a fine-tuning job, or adopt the existing one for the same files and settings, and wait for it.

    Shows status, step, train/validation loss, elapsed and estimated remaining time. Ctrl-C stops waiting
    but leaves the job running; run the same command again to pick it up.

    \b
    Examples:
      aoai-ft train -t datasets/training_set.jsonl -v datasets/validation_set.jsonl
      aoai-ft train -t file-abc123 --suffix teacher --n-epochs 3 --seed 42
      aoai-ft train -t datasets/training_set.jsonl --detach && aoai-ft status
      aoai-ft train -t datasets/preference_training_set.jsonl -m gpt-4.1-mini-2025-04-14 --method dpo --beta 0.1
      aoai-ft train -t datasets/preference_training_set.jsonl -m "$FINE_TUNED_MODEL" --method dpo   (continue)
      eval "$(aoai-ft train -t datasets/training_set.jsonl --export)" && aoai-ft status "$FINE_TUNING_JOB_ID"
    """
    from pydantic import ValidationError

    from pipeline.errors import UsageError, first_problem
    from pipeline.jobs import JobStillRunning, TrainingSpec, start_or_adopt, wait_for_job
    from pipeline.training_settings import TrainingSettings
    from pipeline.progress import JobProgressDisplay

    out = console(stderr=export)  # with --export, stdout carries only the export lines
    if method is None:
        method = _file_method(training_file)
        if method == "dpo":
            out.print(f"{training_file} holds preference pairs: training with DPO (--method dpo)")
    if beta is not None and method != "dpo":
        raise UsageError("--beta is a DPO setting", hint="add --method dpo, or drop --beta")
    try:  # every setting is checked before anything is uploaded
        settings = TrainingSettings(model=model, suffix=suffix, n_epochs=n_epochs, batch_size=batch_size,
                                    learning_rate_multiplier=learning_rate_multiplier, seed=seed, method=method,
                                    beta=beta)
    except ValidationError as exc:
        raise UsageError(f"invalid training settings: {first_problem(exc)}", hint="see `aoai-ft train --help`") from None
    training_path, validation_path = _local_file(training_file), _local_file(validation_file)
    client = client_factory()
    training_id = _resolve_file(client, training_file, training_path, timeout=min(timeout, 1800),
                                poll_interval=poll_interval, out=out)
    validation_id = _resolve_file(client, validation_file, validation_path, timeout=min(timeout, 1800),
                                  poll_interval=poll_interval, out=out)
    spec = TrainingSpec(**{name: getattr(settings, name) for name in TrainingSettings.model_fields},
                        training_file=training_id, validation_file=validation_id)
    job, adopted = start_or_adopt(client, spec)
    out.print(f"{'adopted existing' if adopted else 'started'} job [bold]{job.id}[/] ({job.status})")
    if detach:
        out.print(f"follow it with: aoai-ft status {job.id}")
        return
    try:
        with JobProgressDisplay(out) as show:
            job = wait_for_job(client, job.id, timeout=timeout, poll_interval=poll_interval, on_update=show)
    except KeyboardInterrupt:
        raise JobStillRunning(job.id, "running", "stopped waiting on Ctrl-C", exit_code=130) from None
    out.print(f"[green]succeeded[/]: fine-tuned model [bold]{job.fine_tuned_model}[/]"
              f" ({f'{job.trained_tokens:,}' if job.trained_tokens else '?'} trained tokens)")
    out.print(f"next: aoai-ft deploy --model {job.fine_tuned_model} --deployment <name>")
    if export:
        click.echo(format_exports({envnames.FINE_TUNING_JOB_ID: job.id, envnames.FINE_TUNED_MODEL: job.fine_tuned_model}),
                   nl=False)

"""`aoai-ft eval`: a held-out set through the service's Evals API, one run per deployment, side by side."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import click

from pipeline import envnames
from pipeline.commands._options import connection_options, console
from pipeline.evals.criteria import DEFAULT_CRITERIA

DEFAULT_FILE = Path("datasets/validation_set.jsonl")


@click.command("eval")
@click.argument("held_out", required=False, type=click.Path(dir_okay=False, path_type=Path), default=DEFAULT_FILE)
@click.option("--deployment", "-d", "deployments", multiple=True, metavar="NAME",
              help="Deployment to evaluate; repeat to compare (fine-tuned, base, checkpoints). "
                   f"Default: ${envnames.AZURE_OPENAI_DEPLOYMENT}.")
@click.option("--criteria", default=DEFAULT_CRITERIA, show_default=True, metavar="SPEC",
              help="Comma-separated testing criteria: fuzzy_match>=0.6, bleu>=0.3, rouge_1..rouge_5>=x, "
                   "rouge_l>=x, string_check:eq|ne|like|ilike, score_model@GRADER_DEPLOYMENT>=x; or a JSON list.")
@click.option("--name", default="aoai-ft held-out", show_default=True, help="Name of the eval in the portal.")
@click.option("--json", "as_json", is_flag=True, help="Print the results as JSON (for scripts) instead of a table.")
@click.option("--png", type=click.Path(dir_okay=False, path_type=Path), metavar="FILE",
              help="Write a picture: pass rate and score distribution per deployment.")
@click.option("--answers", type=click.Path(dir_okay=False, path_type=Path), metavar="FILE",
              help="Write every answer with its reference and scores as JSONL.")
@click.option("--fresh", is_flag=True, help="Start new runs even where a run of this eval on a deployment exists.")
@click.option("--timeout", "timeout_minutes", type=click.FloatRange(min=0.1), default=30, show_default=True,
              help="Minutes to wait for the runs.")
@click.option("--poll", "poll_seconds", type=click.FloatRange(min=0.05), default=5, show_default=True,
              help="Seconds between status checks.")
@connection_options
def eval_command(held_out: Path, deployments: tuple[str, ...], criteria: str, name: str, as_json: bool,
                 png: Path | None, answers: Path | None, fresh: bool, timeout_minutes: float, poll_seconds: float,
                 client_factory) -> None:
    """Evaluate deployments on HELD_OUT (a chat JSONL in the training format; default: the validation set).

    Each line's system message and any earlier turns are sent as they are, its last user message is the
    question, and its last assistant message the reference the answer is graded against. The eval and its
    runs live in the service (and the Foundry portal); running the same command again adopts them instead of
    paying twice.

    \b
    Examples:
      aoai-ft eval -d gpt-4o-mini-2024-07-18-ft -d gpt-4o-mini-base
      aoai-ft eval datasets/validation_set.jsonl -d ft -d base --criteria "fuzzy_match>=0.6,rouge_l>=0.4"
      aoai-ft eval -d ckpt-step-10 -d ckpt-step-20 -d ft --png eval.png --answers answers.jsonl
      aoai-ft eval -d ft -d base --json > eval.json
    """
    import os

    from pipeline.errors import UsageError, check_output, on_ctrl_c, writing
    from pipeline.evals import evaluate, load_eval_dataset, parse_criteria
    from pipeline.evals.client import evals_client_for
    from pipeline.evals.report import print_report, report_json, write_answers, write_png
    from pipeline.evals.runner import eval_interrupted

    if not deployments:
        default = os.environ.get(envnames.AZURE_OPENAI_DEPLOYMENT)
        if not default:
            raise UsageError("no deployment to evaluate",
                             hint=f"pass --deployment NAME (repeat it to compare), or set {envnames.AZURE_OPENAI_DEPLOYMENT}")
        deployments = (default,)
    if len(set(deployments)) != len(deployments):
        raise UsageError("a deployment is named twice", hint="name each deployment once")
    dataset = load_eval_dataset(held_out)
    testing_criteria = parse_criteria(criteria)
    for path, option in ((png, "--png"), (answers, "--answers")):  # before any run is paid for
        if path is not None:
            check_output(path, option=option)
    err = console(stderr=True)
    client = evals_client_for(client_factory())
    runs: dict[str, str] = {}  # deployment -> its run, once started or adopted: what goes on after Ctrl-C
    with _Progress(err, len(dataset.items)) as progress, on_ctrl_c(lambda: eval_interrupted(runs, fresh=fresh)):
        report = evaluate(client, dataset, testing_criteria, deployments, name=name, fresh=fresh,
                          timeout=timeout_minutes * 60, poll_seconds=poll_seconds,
                          on_progress=progress.update, on_note=progress.note,
                          on_run=lambda deployment, run: runs.__setitem__(deployment, run.id))
    if as_json:
        click.echo(json.dumps(report_json(report), indent=2))
    else:
        print_report(report, console())
    if png is not None:
        with writing(png, option="--png"):
            err.print(f"wrote {write_png(report, png)}")
    if answers is not None:
        with writing(answers, option="--answers"):
            err.print(f"wrote {write_answers(report, answers)}")


class _Progress:
    """A progress bar per deployment on stderr (items graded so far), plus notes."""

    def __init__(self, console: Any, total: int) -> None:
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

        self.console, self.total = console, total
        self.progress = Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                                 TextColumn("{task.fields[status]}"), console=console, transient=False)
        self.tasks: dict[str, Any] = {}

    def __enter__(self) -> "_Progress":
        self.progress.start()
        return self

    def __exit__(self, *_: object) -> None:
        self.progress.stop()

    def note(self, message: str) -> None:
        self.progress.console.print(message)

    def update(self, deployment: str, run: Any) -> None:
        done = run.result_counts.total if run.result_counts else 0
        if deployment not in self.tasks:
            self.tasks[deployment] = self.progress.add_task(deployment, total=self.total, status=run.status)
        self.progress.update(self.tasks[deployment], completed=done, status=run.status)

"""`aoai-ft report`: loss curves PNG, final metrics and base vs fine-tuned answers for a finished job."""
from __future__ import annotations

from pathlib import Path

import click

from pipeline.commands._options import connection_options, console, job_id_given


@click.command("report")
@click.argument("job_id", callback=job_id_given)
@click.option("--out", "out_dir", type=click.Path(file_okay=False, path_type=Path), default=Path("report"),
              show_default=True, help="Directory for loss.png, metrics.json and report.md.")
@click.option("--base-deployment", metavar="NAME", help="Deployment of the base model, for the side-by-side.")
@click.option("--ft-deployment", metavar="NAME", help="Deployment of the fine-tuned model, for the side-by-side.")
@click.option("--validation-file", type=click.Path(dir_okay=False, path_type=Path),
              default=Path("datasets/validation_set.jsonl"), show_default=True,
              help="Questions for the side-by-side: the last user message of each example.")
@click.option("--questions", "max_questions", type=click.IntRange(min=1), default=5, show_default=True,
              help="How many validation questions to compare.")
@connection_options
def report(job_id: str, out_dir: Path, base_deployment: str | None, ft_deployment: str | None,
           validation_file: Path, max_questions: int, client_factory) -> None:
    """Write JOB_ID's loss curves (train and validation; for a DPO job also its reward accuracy and margin) as a
    PNG, its final metrics, and, given both
    deployments, the base and fine-tuned answers to the validation questions side by side.

    \b
    Examples:
      aoai-ft report ftjob-0123 --out report/
      aoai-ft report ftjob-0123 --base-deployment gpt-4o-mini --ft-deployment teacher
    """
    from rich.table import Table

    from pipeline.clients import service_errors
    from pipeline.errors import UsageError, check_output, writing
    from pipeline.report import (
        compare_answers, fetch_results, final_metrics, shown_metrics, validation_questions, write_report,
    )

    if bool(base_deployment) != bool(ft_deployment):
        raise UsageError("the side-by-side needs both deployments",
                         hint="pass --base-deployment and --ft-deployment together (or neither)")
    questions: list[str] = []
    if base_deployment and ft_deployment:  # the side-by-side was asked for: its questions first, before any request
        questions = validation_questions(validation_file, limit=max_questions)
        if not questions:
            raise UsageError(f"{validation_file} has no questions for the side-by-side (no example with a user "
                             "message)",
                             hint="pass --validation-file a chat .jsonl with examples (`aoai-ft validate FILE` checks "
                                  "it), or leave out --base-deployment and --ft-deployment")
    out = console()
    client = client_factory()
    rows = fetch_results(client, job_id)
    with service_errors(f"reading job {job_id}"):
        job = client.fine_tuning.jobs.retrieve(job_id)
    check_output(out_dir, option="--out", directory=True)  # before the questions are asked (and paid for)
    comparisons = None
    if questions:
        with out.status(f"asking {len(questions):,} questions to {base_deployment} and {ft_deployment} ..."):
            comparisons = compare_answers(client, base_deployment, ft_deployment, questions)
    with writing(out_dir, option="--out"):
        files = write_report(out_dir, job_id=job_id, rows=rows, comparisons=comparisons,
                             fine_tuned_model=job.fine_tuned_model)
    table = Table("metric", "final value", title=f"{job_id} ({len(rows):,} steps)")
    for name, value in shown_metrics(final_metrics(rows)).items():
        table.add_row(name, "-" if value is None else (f"{value:,}" if name == "steps" else f"{value:.4f}"))
    out.print(table)
    if comparisons:
        side = Table("question", base_deployment, ft_deployment, title="base vs fine-tuned")
        for pair in comparisons:
            side.add_row(pair.question, pair.base, pair.fine_tuned)
        out.print(side)
    out.print(f"wrote {files.loss_png}, {files.metrics_json}, {files.markdown}")

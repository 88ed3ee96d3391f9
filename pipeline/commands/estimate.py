"""`aoai-ft estimate`: what would training on this file cost?"""
from __future__ import annotations

import sys
from pathlib import Path

import click

from pipeline.commands.validate import (
    dash_is_stdin, epochs_option, load_price_table, method_option, model_option, prices_option, single_threaded_blas,
)
from pipeline.dataset.budget import check_budget
from pipeline.errors import DatasetInvalid


@click.command("estimate")
@click.argument("train", type=click.Path(path_type=Path, allow_dash=True))
@model_option
@prices_option
@epochs_option
@click.option("--max-usd", type=click.FloatRange(min=0), default=None, help="Fail (exit 1) if the estimate is above this.")
@click.option("--json", "as_json", is_flag=True, help="Print the estimate as one JSON object.")
@method_option
def estimate(train: Path, model: str, prices_file: Path | None, n_epochs: int | None, max_usd: float | None,
             as_json: bool, method: str | None) -> None:
    """Estimate the training cost of TRAIN: tokens x epochs x price (an estimate; prices change).

    A preference (DPO) file is billed for both sequences of each pair (the conversation with each reply).
    The file is validated too: a file with errors exits 1, because the service would reject it. TRAIN - is
    read from standard input.
    """
    from pipeline.dataset import validate_files

    single_threaded_blas()
    report = validate_files(dash_is_stdin([train]), model=model, prices=load_price_table(prices_file), n_epochs=n_epochs,
                            method=method)
    est = report.estimate
    if est is None:
        raise DatasetInvalid(f"no estimate: {report.no_estimate}", report=report,
                             hint=f"add chat examples to it (`aoai-ft validate {train}` shows what is wrong)")
    if as_json:
        click.echo(est.model_dump_json())
    else:
        from pipeline.commands._options import console

        pairs = " preference pairs (both replies counted)" if report.files[0].method == "dpo" else " examples"
        console().print(
            f"{est.training_file}: {report.files[0].examples:,}{pairs}, {est.billed_tokens // est.epochs:,} tokens"
            f" x {est.epochs} epochs = {est.billed_tokens:,} billed tokens\n"
            f"[bold]${est.usd:,.2f}[/] at ${est.price_per_million:,.2f} per 1M training tokens for {est.model}\n"
            f"[dim]Estimate only; prices as of {est.as_of} from: {est.source}[/]"
        )
    if not report.ok:
        click.secho(f"{est.training_file} has {len(report.files[0].errors):,} error(s); run `aoai-ft validate {train}`.",
                    fg="red", err=True)
        sys.exit(1)  # not click's Exit: pipeline.cli.main runs click with standalone_mode=False, which swallows it
    check_budget(est, max_usd, limit_name="--max-usd",
                 hint="use fewer examples or epochs, a cheaper model, or raise the budget")

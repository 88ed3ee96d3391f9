"""`aoai-ft validate`: check fine-tuning JSONL files (chat or preference pairs) before a cent is spent."""
from __future__ import annotations

import os
import sys
from pathlib import Path

import click

from pipeline.dataset.billing import MAX_N_EPOCHS
from pipeline.dataset.models import DEFAULT_MODEL, MODELS


def prices_option(func):  # shared with `estimate`
    return click.option(
        "--prices", "prices_file", type=click.Path(dir_okay=False, path_type=Path), default=None,
        help="JSON/YAML price file merged over the built-in table (see pipeline/dataset/pricing.py).",
    )(func)


def model_option(func):
    return click.option(
        "--model", "-m", default=DEFAULT_MODEL, show_default=True, metavar="MODEL",
        help=f"Base model (token limit, tokenizer, price): {', '.join(MODELS)}.",
    )(func)


def epochs_option(func):
    return click.option(
        "--epochs", "n_epochs", type=click.IntRange(1, MAX_N_EPOCHS), default=None,
        help="Epochs to price (default: OpenAI's rule, 3 adjusted to keep epochs x examples in [100, 25000]).",
    )(func)


def method_option(func):  # shared with `estimate`
    return click.option(
        "--method", type=click.Choice(["supervised", "dpo"]), default=None,
        help="Validate as chat examples (supervised) or preference pairs (dpo); default: the file's format.",
    )(func)


def single_threaded_blas() -> None:
    """numpy serves the token statistics only (quantiles, means: no linear algebra), yet OpenBLAS starts a thread
    per further core when numpy loads, which spins for ~0.07 s of CPU on the cores that scan the file. One thread,
    unless the user chose a number. Called before numpy is imported (while a worker scans)."""
    os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")


STDIN = Path("/dev/stdin")


def dash_is_stdin(paths: list[Path]) -> list[Path]:
    """`-` names standard input, read as /dev/stdin (copied like any pipe before it is checked); it can be read
    once, so it may be named once."""
    if sum(str(p) == "-" for p in paths) > 1:
        from pipeline.errors import UsageError

        raise UsageError("standard input (-) is named more than once", hint="pass - for one file only")
    return [STDIN if str(p) == "-" else p for p in paths]


def load_price_table(prices_file: Path | None):
    from pipeline.dataset.pricing import default_prices, load_prices

    return load_prices(prices_file) if prices_file else default_prices()


@click.command("validate")
@click.argument("train", type=click.Path(path_type=Path, allow_dash=True))
@click.argument("validation", nargs=-1, type=click.Path(path_type=Path, allow_dash=True))
@model_option
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object instead of the report.")
@prices_option
@epochs_option
@method_option
def validate(train: Path, validation: tuple[Path, ...], model: str, as_json: bool, prices_file: Path | None,
             n_epochs: int | None, method: str | None) -> None:
    """Check TRAIN and optional VALIDATION files: problems by line and code, token stats, cost.

    Chat files (supervised) and preference files (DPO: input, preferred_output, non_preferred_output) are told
    apart by their lines, or by --method; a file mixing both is an error that lists the lines. A file named -
    is read from standard input.

    \b
    Exit codes: 0 all files valid, 1 a file has errors, 2 usage error (e.g. missing file).
    Error codes and the counting rules are documented in pipeline/dataset/checks.py (chat) and
    pipeline/dataset/preference.py (preference pairs).
    """
    from pipeline.dataset.validate import DATA_REPORT_MODULES, REPORT_MODULES, validation_report_data

    single_threaded_blas()
    prices = load_price_table(prices_file) if prices_file else None  # None: the built-in table
    # --json prints the report's data as it is, never importing pydantic; the rendering takes the pydantic report.
    # Either way the modules it needs load while a worker scans.
    data = validation_report_data(dash_is_stdin([train, *validation]), model=model, prices=prices, n_epochs=n_epochs,
                                  method=method, preload=DATA_REPORT_MODULES if as_json else REPORT_MODULES)
    if as_json:
        from pipeline.dataset.report_data import to_json

        click.echo(to_json(data))
    else:
        from pipeline.commands._options import console
        from pipeline.dataset.report import ValidationReport, render_report

        render_report(ValidationReport.model_validate(data), console())
    if not data["ok"]:
        sys.exit(1)  # not click's Exit: pipeline.cli.main runs click with standalone_mode=False, which swallows it

"""Validation report models and the human rendering. Their `model_dump()` is the `--json` output, which
`aoai-ft validate` writes from the same data without them (pipeline.dataset.report_data)."""
from __future__ import annotations

from collections import defaultdict

from typing import TYPE_CHECKING, Any, Literal

from pydantic import BaseModel, Field, SerializerFunctionWrapHandler, model_serializer

from pipeline.dataset.pricing import CostEstimate
from pipeline.dataset.report_data import method_token_stats
from pipeline.dataset.stats import Distribution

if TYPE_CHECKING:  # rich is imported only when rendering: `--json` and library callers skip its import time
    from rich.console import Console

SHOWN_PER_CODE = 3


class Problem(BaseModel):
    """One error or warning. `line` is 1-based; null for file-level problems (too_few_examples, file_too_large)."""

    line: int | None
    code: str
    message: str


class TokenStats(BaseModel):
    """Per-example token distributions. Chat: total and assistant. Preference (DPO): total (both sequences of
    the pair), input (the conversation) and the preferred / non-preferred replies."""

    total: Distribution | None = None
    assistant: Distribution | None = None
    input: Distribution | None = None
    preferred: Distribution | None = None
    non_preferred: Distribution | None = None

    @model_serializer(mode="wrap")
    def _only_the_method_s(self, handler: SerializerFunctionWrapHandler) -> dict[str, Any]:
        """A chat report shows total/assistant, a preference report total/input/preferred/non_preferred."""
        return method_token_stats(handler(self), dpo=self.input is not None or self.preferred is not None)


class Billing(BaseModel):
    """What training on this file would bill: epochs and tokens x epochs (see pipeline.dataset.billing)."""

    epochs: int
    billed_tokens: int


class FileReport(BaseModel):
    path: str
    ok: bool
    method: Literal["supervised", "dpo"] = "supervised"
    """The training method the file was validated for: its format (chat or preference)."""
    examples: int
    errors: list[Problem] = Field(default_factory=list)
    warnings: list[Problem] = Field(default_factory=list)
    error_counts: dict[str, int] = Field(default_factory=dict)
    tokens: TokenStats = Field(default_factory=TokenStats)
    billing: Billing
    from_cache: bool = Field(False, exclude=True)
    """True when the report was reused from the cache (same bytes, model, epochs and rules): not part of the JSON."""


class TrainingEstimate(CostEstimate):
    """The cost estimate of training on the first (training) file; validation files are not counted."""

    training_file: str
    epochs: int


class ValidationReport(BaseModel):
    ok: bool
    files: list[FileReport]
    estimate: TrainingEstimate | None = None
    no_estimate: str | None = None
    """Why there is no estimate (the training file has nothing to train on), so no one reads a missing one as $0."""


def _fmt(value: float) -> str:
    return f"{value:,.0f}" if float(value).is_integer() else f"{value:,.1f}"


def _render_file(file: FileReport, console: Console) -> None:
    from rich.table import Table

    verdict = "[green]valid[/]" if file.ok else f"[red]{len(file.errors):,} error(s)[/]"
    kind = " (preference pairs, DPO)" if file.method == "dpo" else ""
    console.print(f"[bold]{file.path}[/]: {file.examples:,} examples{kind}, {verdict}"
                  + (f", {len(file.warnings):,} warning(s)" if file.warnings else ""))
    if file.tokens.total:
        table = Table("tokens", "min", "max", "mean", "median", "p10", "p90", title_justify="left")
        for name in ("total", "assistant", "input", "preferred", "non_preferred"):
            dist = getattr(file.tokens, name)
            if dist:
                table.add_row(name, *(_fmt(getattr(dist, k)) for k in ("min", "max", "mean", "median", "p10", "p90")))
        console.print(table)
        console.print(f"  billing if trained on: {file.billing.epochs} epochs, {file.billing.billed_tokens:,} billed tokens")
    for kind, problems, style in (("error", file.errors, "red"), ("warning", file.warnings, "yellow")):
        if not problems:
            continue
        by_code: dict[str, list[Problem]] = defaultdict(list)
        for p in problems:
            by_code[p.code].append(p)
        table = Table(kind, "count", "first lines: message", title_justify="left", border_style=style)
        for code, items in by_code.items():
            shown = "\n".join(
                f"{'file' if p.line is None else f'line {p.line}'}: {p.message}" for p in items[:SHOWN_PER_CODE]
            )
            if len(items) > SHOWN_PER_CODE:
                shown += f"\n... and {len(items) - SHOWN_PER_CODE:,} more"
            table.add_row(f"[{style}]{code}[/]", f"{len(items):,}", shown)
        console.print(table)


def render_report(report: ValidationReport, console: Console) -> None:
    """Readable report: per file the counts, token table, first problems per code; then cost and verdict."""
    for file in report.files:
        _render_file(file, console)
    est = report.estimate
    if est:
        console.print(
            f"Estimated training cost ({est.model}, {est.training_file}): [bold]${est.usd:,.2f}[/] "
            f"= {est.billed_tokens:,} tokens ({est.epochs} epochs) x ${est.price_per_million:,.2f}/1M. "
            f"[dim]Estimate only; prices as of {est.as_of} from: {est.source}[/]"
        )
    elif report.no_estimate:
        console.print(f"No cost estimate: {report.no_estimate}.")
    if report.ok:
        console.print(f"[bold green]OK[/]: {len(report.files):,} file(s) valid.")
    else:
        bad = [f.path for f in report.files if not f.ok]
        total = sum(len(f.errors) for f in report.files)
        console.print(f"[bold red]INVALID[/]: {total:,} error(s) in {', '.join(bad)}.")

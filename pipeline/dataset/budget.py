"""The cost ceiling, checked one way wherever a training estimate meets a budget (`aoai-ft estimate --max-usd`, the
stack's `maxTrainingCostUsd`)."""
from __future__ import annotations

from pipeline.dataset.report import TrainingEstimate
from pipeline.errors import BudgetExceeded


def check_budget(estimate: TrainingEstimate, max_usd: float | None, *, limit_name: str, hint: str) -> None:
    """Raise `BudgetExceeded` with the figures behind the estimate when it is above `max_usd` (None = no limit)."""
    if max_usd is None or estimate.usd <= max_usd:
        return
    raise BudgetExceeded(
        f"estimated training cost ${estimate.usd:,.2f} is above {limit_name} ${max_usd:,.2f}: "
        f"{estimate.billed_tokens:,} billed tokens ({estimate.epochs} epochs) x ${estimate.price_per_million:,.2f}"
        f" per 1M for {estimate.model} (prices as of {estimate.as_of}, {estimate.source})",
        hint=hint,
    )

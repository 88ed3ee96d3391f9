"""The quality bar a model must clear before it may be promoted, and the figures it is judged on.

The same check runs in three places: a dev `pulumi up` after its evaluation, a promote-mode program before any
resource, and `aoai-ft promote`. The figures are the fine-tuned model's pass rate on the held-out set and the
base model's pass rate on the same set with the same criteria.
"""
from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final

from pydantic import BaseModel, ConfigDict, Field

from pipeline import envnames
from pipeline.errors import PipelineError

DEFAULT_MIN_IMPROVEMENT: Final = 0.1
"""Out of the box a model must pass at least 10 points more of the held-out items than its base model does."""


class EvalFigures(BaseModel):
    """What an evaluation measured (rates in [0, 1])."""

    model_config = ConfigDict(frozen=True)

    pass_rate: float = Field(ge=0, le=1)
    base_pass_rate: float | None = Field(None, ge=0, le=1)
    run_id: str | None = None

    @property
    def improvement(self) -> float | None:
        return None if self.base_pass_rate is None else self.pass_rate - self.base_pass_rate

    def describe(self) -> str:
        base = "" if self.base_pass_rate is None else (
            f", base model {self.base_pass_rate:.0%} ({self.improvement:+.0%} points)")
        run = f" (eval run {self.run_id})" if self.run_id else ""
        return f"pass rate {self.pass_rate:.0%}{base}{run}"

    def outputs(self) -> dict[str, Any]:
        """As the stack exports them."""
        return {envnames.EVAL_PASS_RATE: self.pass_rate, envnames.EVAL_BASE_PASS_RATE: self.base_pass_rate,
                envnames.EVAL_RUN_ID: self.run_id}

    def record(self) -> dict[str, Any]:
        """As PROMOTED_FROM and the promotion ledger keep them."""
        return {"evalPassRate": self.pass_rate, "evalBasePassRate": self.base_pass_rate, "evalRunId": self.run_id}


class QualityBar(BaseModel):
    """`min_pass_rate`: absolute floor (None = none); `min_improvement`: over the base model (None = none)."""

    model_config = ConfigDict(frozen=True)

    min_pass_rate: float | None = Field(None, ge=0, le=1)
    min_improvement: float | None = Field(DEFAULT_MIN_IMPROVEMENT, ge=-1, le=1)

    @property
    def enabled(self) -> bool:
        return self.min_pass_rate is not None or self.min_improvement is not None

    def describe(self) -> str:
        parts = []
        if self.min_pass_rate is not None:
            parts.append(f"pass rate >= {self.min_pass_rate:.0%}")
        if self.min_improvement is not None:
            parts.append(f"at least {self.min_improvement:+.0%} points over the base model")
        return " and ".join(parts) or "no bar"

    def shortfalls(self, figures: EvalFigures) -> list[str]:
        """What `figures` miss, one sentence each (empty = clears the bar)."""
        missed = []
        if self.min_pass_rate is not None and figures.pass_rate < self.min_pass_rate - 1e-9:
            missed.append(f"pass rate {figures.pass_rate:.0%} is below the minimum {self.min_pass_rate:.0%}")
        if self.min_improvement is not None:
            if figures.improvement is None:
                missed.append("no base-model pass rate was recorded to compare with")
            elif figures.improvement < self.min_improvement - 1e-9:
                missed.append(f"improvement over the base model {figures.improvement:+.0%} points "
                              f"({figures.pass_rate:.0%} vs {figures.base_pass_rate:.0%}) is below the minimum "
                              f"{self.min_improvement:+.0%}")
        return missed


class QualityGateFailed(PipelineError):
    """The model's measured quality is below the bar."""


def check_quality(figures: EvalFigures | None, bar: QualityBar, *, subject: str, hint: str) -> None:
    """Raise `QualityGateFailed` naming the figures when `figures` miss `bar` (or were never recorded)."""
    if not bar.enabled:
        return
    if figures is None:
        raise QualityGateFailed(f"{subject} has no recorded evaluation, so it cannot be checked against the bar "
                                f"({bar.describe()})", hint=hint)
    missed = bar.shortfalls(figures)
    if missed:
        raise QualityGateFailed(f"{subject} is below the quality bar: " + "; ".join(missed)
                                + f" [{figures.describe()}]", hint=hint)


def figures_from_outputs(outputs: Mapping[str, Any]) -> EvalFigures | None:
    """EVAL_PASS_RATE / EVAL_BASE_PASS_RATE / EVAL_RUN_ID of a stack's outputs, or None when it recorded none."""
    rate = _rate(outputs.get(envnames.EVAL_PASS_RATE))
    if rate is None:
        return None
    run = outputs.get(envnames.EVAL_RUN_ID)
    return EvalFigures(pass_rate=rate, base_pass_rate=_rate(outputs.get(envnames.EVAL_BASE_PASS_RATE)),
                       run_id=run if isinstance(run, str) and run else None)


def _rate(value: Any) -> float | None:
    if value is None or value == "" or isinstance(value, bool):
        return None
    try:
        rate = float(value)
    except (TypeError, ValueError):
        return None
    return rate if 0.0 <= rate <= 1.0 else None

"""Token distributions, computed the way the lab's cell does (numpy mean/median/quantile), but labelled
honestly: the lab printed the 10th and 90th percentiles as "p5 / p95"; here they are p10 and p90."""
from __future__ import annotations

from array import array
from collections.abc import Sequence

from pydantic import BaseModel

from pipeline.dataset import report_data


class Distribution(BaseModel):
    """min, max, mean, median and the 10th/90th percentiles (numpy's default linear interpolation)."""

    min: int
    max: int
    mean: float
    median: float
    p10: float
    p90: float


def distribution(values: array | Sequence[int]) -> Distribution | None:
    """The distribution of `values`, or None when there are none (computed by `report_data.distribution`)."""
    data = report_data.distribution(values)
    return None if data is None else Distribution(**data)

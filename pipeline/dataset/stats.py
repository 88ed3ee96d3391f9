"""Token distributions, computed the way the lab's cell does (numpy mean/median/quantile), but labelled
honestly: the lab printed the 10th and 90th percentiles as "p5 / p95"; here they are p10 and p90."""
from __future__ import annotations

from array import array
from collections.abc import Sequence

import numpy as np
from pydantic import BaseModel


class Distribution(BaseModel):
    """min, max, mean, median and the 10th/90th percentiles (numpy's default linear interpolation)."""

    min: int
    max: int
    mean: float
    median: float
    p10: float
    p90: float


def distribution(values: array | Sequence[int]) -> Distribution | None:
    """The distribution of `values`, or None when there are none."""
    data = np.frombuffer(values, dtype=np.int64) if isinstance(values, array) and values.typecode == "q" else np.asarray(values, dtype=np.int64)
    if data.size == 0:
        return None
    p10, median, p90 = np.quantile(data, [0.1, 0.5, 0.9])
    return Distribution(
        min=int(data.min()),
        max=int(data.max()),
        mean=float(np.mean(data)),
        median=float(median),
        p10=float(p10),
        p90=float(p90),
    )

"""Token distributions, equal to what the lab's cell prints with numpy (np.mean, np.median, np.quantile), but
labelled honestly: the lab printed the 10th and 90th percentiles as "p5 / p95"; here they are p10 and p90.

Plain Python with numpy's exact arithmetic (the same float operations in the same order; a test compares them
on thousands of random lists): `aoai-ft validate` never imports numpy, whose import alone costs more than
scanning a few megabytes. Counts are integers, so every sum is exact below 2**53 tokens. The order statistics
come from counts per distinct value, not a sorted copy: memory follows the distinct counts (a few thousand),
not the examples (half a million in a 512 MB file).
"""
from __future__ import annotations

import math
from array import array
from bisect import bisect_right
from collections import Counter
from collections.abc import Iterable, Sequence
from itertools import accumulate

from pydantic import BaseModel


class Distribution(BaseModel):
    """min, max, mean, median and the 10th/90th percentiles (numpy's default linear interpolation)."""

    min: int
    max: int
    mean: float
    median: float
    p10: float
    p90: float


class Ranked:
    """The values in ascending order, read by rank, held as (distinct value, how many)."""

    def __init__(self, values: Iterable[int]) -> None:
        counts = Counter(values)
        self.values = sorted(counts)
        self.ends = list(accumulate(counts[value] for value in self.values))  # rank just past each value

    def __len__(self) -> int:
        return self.ends[-1] if self.ends else 0

    def __getitem__(self, rank: int) -> int:
        if not 0 <= rank < len(self):
            raise IndexError(rank)
        return self.values[bisect_right(self.ends, rank)]


def quantile(ordered: Sequence[int] | Ranked, q: float) -> float:
    """numpy.quantile(values, q) (method "linear") of the sorted `ordered`: numpy's virtual index (n-1)*q, and
    its lerp, which counts from the upper neighbour when the weight is at least one half."""
    last = len(ordered) - 1
    virtual = last * q
    if virtual >= last:
        return float(ordered[last])
    below = math.floor(virtual)
    weight = virtual - below
    a, b = ordered[below], ordered[below + 1]
    if weight >= 0.5:
        return b - (b - a) * (1 - weight)
    return a + (b - a) * weight


def median(ordered: Sequence[int] | Ranked) -> float:
    """numpy.median of the sorted `ordered`: the middle value, or the mean of the two middle values."""
    middle = len(ordered) // 2
    if len(ordered) % 2:
        return float(ordered[middle])
    return (ordered[middle - 1] + ordered[middle]) / 2


def distribution(values: array | Sequence[int]) -> Distribution | None:
    """The distribution of `values`, or None when there are none."""
    if not values:
        return None
    ordered = Ranked(values)
    return Distribution(
        min=ordered.values[0],
        max=ordered.values[-1],
        mean=sum(values) / len(values),
        median=median(ordered),
        p10=quantile(ordered, 0.1),
        p90=quantile(ordered, 0.9),
    )

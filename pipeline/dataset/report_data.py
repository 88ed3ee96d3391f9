"""The validation report as plain data: dicts and lists in exactly the shape of `ValidationReport.model_dump()`
(pipeline.dataset.report), built without pydantic.

`aoai-ft validate --json` prints this data as it is: orjson writes the same text as pydantic's `model_dump_json`
(tests compare the two), and the command is spared importing pydantic, building its models and tearing them down
at exit, about a tenth of its CPU time. Library callers get the pydantic models, validated from this same data,
so what a report holds is decided in one place.
"""
from __future__ import annotations

from array import array
from collections import Counter
from collections.abc import Iterable, Sequence
from typing import Any

Found = tuple[int | None, str, str]
"""A problem as the checks find it: (line, or None for the whole file; code; message)."""

TOKEN_STATS = ("total", "assistant", "input", "preferred", "non_preferred")
"""TokenStats' fields, in its order."""


def problems(items: Iterable[Found]) -> list[dict[str, Any]]:
    """`Problem`s as data."""
    return [{"line": line, "code": code, "message": message} for line, code, message in items]


def distribution(values: array | Sequence[int]) -> dict[str, Any] | None:
    """The `Distribution` of `values` (min, max, mean, median, p10, p90; numpy's mean and default linear-interpolation
    quantiles, as the lab's cell computes them), or None when there are none."""
    import numpy as np  # not at import time: the CLI imports this module before a scan starts

    data = np.frombuffer(values, dtype=np.int64) if isinstance(values, array) and values.typecode == "q" else np.asarray(values, dtype=np.int64)
    if data.size == 0:
        return None
    p10, median, p90 = np.quantile(data, [0.1, 0.5, 0.9])
    return {"min": int(data.min()), "max": int(data.max()), "mean": float(np.mean(data)), "median": float(median),
            "p10": float(p10), "p90": float(p90)}


def method_token_stats(stats: dict[str, Any], *, dpo: bool) -> dict[str, Any]:
    """`stats` (TokenStats' fields) without the other method's empty ones: a chat report shows total/assistant, a
    preference report (`dpo`: it has input or preferred figures) total/input/preferred/non_preferred. Changes
    `stats` in place and returns it."""
    for name in ("input", "preferred", "non_preferred") if not dpo else ("assistant",):
        if stats.get(name) is None:
            stats.pop(name, None)
    return stats


def token_stats(**distributions: dict[str, Any] | None) -> dict[str, Any]:
    """`TokenStats` as data, from the distributions by field name."""
    dpo = distributions.get("input") is not None or distributions.get("preferred") is not None
    return method_token_stats({name: distributions.get(name) for name in TOKEN_STATS}, dpo=dpo)


def file_report(path: str, *, method: str, examples: int, errors: list[Found], warnings: list[Found],
                tokens: dict[str, Any], epochs: int, billed_tokens: int) -> dict[str, Any]:
    """A `FileReport` as data; `ok` and `error_counts` follow from `errors`."""
    return {
        "path": path,
        "ok": not errors,
        "method": method,
        "examples": examples,
        "errors": problems(errors),
        "warnings": problems(warnings),
        "error_counts": dict(Counter(code for _, code, _ in errors)),
        "tokens": tokens,
        "billing": {"epochs": epochs, "billed_tokens": billed_tokens},
    }


def to_json(report: dict[str, Any]) -> str:
    """`ValidationReport.model_validate(report).model_dump_json()`, the same text, written by orjson. What orjson
    refuses (a path with a lone surrogate, an integer over 64 bits) is left to pydantic, which answers as before."""
    import orjson

    files = [{key: value for key, value in file.items() if key != "from_cache"} for file in report["files"]]
    try:
        return orjson.dumps({**report, "files": files}).decode()
    except TypeError:  # orjson.JSONEncodeError is one
        from pipeline.dataset.report import ValidationReport

        return ValidationReport.model_validate(report).model_dump_json()

"""Training price table and the training cost estimate.

Prices change, so the table carries its source and date, is printed with every estimate, and can be
replaced from a JSON/YAML file (`--prices FILE`) or a dict. Shape of a price file:

    currency: USD
    source: "Azure OpenAI pricing page, Global training, read 2026-01-10"
    as_of: "2026-01-10"
    training_per_million:          # USD per 1M billed training tokens
      gpt-4o-mini-2024-07-18: 3.30

Models missing from an override file keep their default price (the override is merged over the defaults),
so a file only needs the rows you want to change. The built-in prices are in `pipeline.dataset.price_list`.
"""
from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

from pydantic import BaseModel, Field, ValidationError, field_validator

from pipeline.dataset.price_list import (  # the numbers live there, importable without pydantic
    DEFAULT_AS_OF, DEFAULT_CURRENCY, DEFAULT_SOURCE, DEFAULT_TRAINING_PER_MILLION, ESTIMATE_NOTE, cost_data,
)
from pipeline.errors import UsageError, first_problem


class PriceTable(BaseModel):
    """Per-model training prices plus where they came from and when."""

    currency: str = DEFAULT_CURRENCY
    source: str
    as_of: str
    training_per_million: dict[str, float] = Field(default_factory=dict)

    @field_validator("training_per_million")
    @classmethod
    def _non_negative(cls, value: dict[str, float]) -> dict[str, float]:
        bad = {k: v for k, v in value.items() if not 0 <= v < math.inf}  # NaN and infinity are not prices either
        if bad:
            raise ValueError(f"prices must be numbers >= 0, got {bad}")
        return value


class CostEstimate(BaseModel):
    """An estimated training cost. It is an estimate: the service bills what it counts."""

    model: str
    billed_tokens: int
    usd: float
    price_per_million: float
    currency: str = DEFAULT_CURRENCY
    source: str
    as_of: str
    note: str = ESTIMATE_NOTE


def default_prices() -> PriceTable:
    """The built-in table (see DEFAULT_SOURCE / DEFAULT_AS_OF)."""
    return PriceTable(source=DEFAULT_SOURCE, as_of=DEFAULT_AS_OF, training_per_million=dict(DEFAULT_TRAINING_PER_MILLION))


PRICE_FILE_KEYS = ("currency", "source", "as_of", "training_per_million")
PRICE_FILE_EXAMPLE = ('e.g. {"as_of": "2026-01-10", "source": "...", '
                      '"training_per_million": {"gpt-4o-mini-2024-07-18": 3.3}}')


def prices_from_dict(data: dict[str, Any], *, origin: str = "price overrides") -> PriceTable:
    """Merge `data` (the price-file shape) over the defaults. A key it does not know is an error, not ignored: a
    model's price written at the top level instead of under training_per_million would change nothing."""
    if not isinstance(data, dict):
        raise UsageError(f"{origin}: expected a mapping with 'training_per_million'", hint=PRICE_FILE_EXAMPLE)
    unknown = [str(key) for key in data if key not in PRICE_FILE_KEYS]
    if unknown:
        raise UsageError(
            f"{origin}: unknown key{'s' if len(unknown) > 1 else ''} {', '.join(repr(k) for k in unknown)} (a price "
            f"file holds only {', '.join(PRICE_FILE_KEYS[:-1])} and {PRICE_FILE_KEYS[-1]})",
            hint=f"put model prices under training_per_million, USD per 1M training tokens: {PRICE_FILE_EXAMPLE}")
    overrides = data.get("training_per_million") or {}
    if not isinstance(overrides, dict):
        raise UsageError(f"{origin}: training_per_million must map model names to USD per 1M tokens",
                         hint=f"under it, map each model name to its price: {PRICE_FILE_EXAMPLE}")
    base = default_prices()
    merged = {
        "currency": data.get("currency", base.currency),
        "source": data.get("source", f"{origin} (merged over: {base.source})"),
        "as_of": str(data.get("as_of", base.as_of)),
        "training_per_million": {**base.training_per_million, **overrides},
    }
    try:
        return PriceTable.model_validate(merged)
    except ValidationError as exc:
        raise UsageError(f"{origin}: {first_problem(exc)}", hint="prices are numbers, USD per 1M training tokens") from exc


def load_prices(path: str | Path) -> PriceTable:
    """Read a JSON or YAML price file and merge it over the defaults."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise UsageError(f"cannot read price file {path}: {exc.strerror or exc}", hint="pass an existing JSON or YAML file") from exc
    except UnicodeDecodeError as exc:
        raise UsageError(f"price file {path} is not UTF-8 text (byte {exc.start + 1} is {exc.object[exc.start:exc.start + 1]!r})",
                         hint="pass a JSON or YAML price file") from None
    if path.suffix.lower() == ".json":
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise UsageError(f"price file {path} is not valid JSON: {exc}", hint="fix the syntax") from exc
    else:
        import yaml

        try:
            data = yaml.safe_load(text)
        except yaml.YAMLError as exc:
            where = getattr(exc, "problem_mark", None)
            line = f" at line {where.line + 1}" if where is not None else ""
            raise UsageError(f"price file {path} is not valid YAML{line}: {getattr(exc, 'problem', None) or 'syntax error'}",
                             hint="fix the syntax") from exc
    return prices_from_dict(data, origin=str(path))


def estimate_training_cost(billed_tokens: int, model: str, prices: PriceTable | None = None) -> CostEstimate:
    """USD for `billed_tokens` (tokens x epochs) of training `model` at `prices`."""
    prices = prices or default_prices()
    return CostEstimate(**cost_data(billed_tokens, model, **prices.model_dump()))

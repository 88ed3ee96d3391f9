"""The built-in training list prices and the estimate's arithmetic, as plain data.

Kept apart from `pipeline.dataset.pricing` (its pydantic models, price files) so that `aoai-ft validate --json`
can price a file without importing pydantic; `pricing` builds its `PriceTable` and `CostEstimate` from these.
"""
from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pipeline.errors import UsageError

DEFAULT_CURRENCY = "USD"
DEFAULT_SOURCE = (
    "OpenAI fine-tuning training list prices, https://platform.openai.com/docs/pricing "
    "(Azure Global training is priced alike, regional Standard about 10-30% more: "
    "https://azure.microsoft.com/pricing/details/cognitive-services/openai-service/)"
)
DEFAULT_AS_OF = "2025-06-01"

# USD per 1M billed training tokens (tokens x epochs).
DEFAULT_TRAINING_PER_MILLION: dict[str, float] = {
    "gpt-35-turbo-0613": 8.00,
    "gpt-35-turbo-1106": 8.00,
    "gpt-35-turbo-0125": 8.00,
    "gpt-4o-mini-2024-07-18": 3.00,
    "gpt-4o-2024-08-06": 25.00,
    "gpt-4.1-2025-04-14": 25.00,
    "gpt-4.1-mini-2025-04-14": 5.00,
    "gpt-4.1-nano-2025-04-14": 1.50,
}

ESTIMATE_NOTE = "estimate only: training tokens x epochs x list price; the service's own count is what is billed"


def cost_data(billed_tokens: int, model: str, *, training_per_million: Mapping[str, float] = DEFAULT_TRAINING_PER_MILLION,
              currency: str = DEFAULT_CURRENCY, source: str = DEFAULT_SOURCE, as_of: str = DEFAULT_AS_OF) -> dict[str, Any]:
    """The fields of a `CostEstimate`, in its order: USD for `billed_tokens` (tokens x epochs) of training `model`.
    The keyword arguments are a `PriceTable`'s fields (`**prices.model_dump()`)."""
    try:
        per_million = training_per_million[model]
    except KeyError:
        raise UsageError(
            f"no training price for {model!r} in the price table ({source})",
            hint=f"add it under training_per_million in your price file; known: {', '.join(training_per_million)}",
        ) from None
    return {
        "model": model,
        "billed_tokens": billed_tokens,
        "usd": round(billed_tokens * per_million / 1_000_000, 4),
        "price_per_million": per_million,
        "currency": currency,
        "source": source,
        "as_of": as_of,
        "note": ESTIMATE_NOTE,
    }

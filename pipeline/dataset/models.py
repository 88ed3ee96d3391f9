"""The one table of fine-tunable base models: per-example token ceiling and tokenizer.

Limits from Microsoft Learn "fine-tune models" (fine-tune-models.md; earlier revisions for the gpt-35 rows),
tokenizers from tiktoken's model map (`tiktoken/model.py`: gpt-35-turbo and gpt-4 use cl100k_base;
gpt-4o, gpt-4.1 and o4-mini use o200k_base).
Training prices live in `pricing.py` because they change far more often than these facts.
"""
from __future__ import annotations

from dataclasses import dataclass

from pipeline.errors import UsageError

DEFAULT_MODEL = "gpt-4o-mini-2024-07-18"


@dataclass(frozen=True, kw_only=True)
class ModelInfo:
    """What validation needs to know about a base model (a plain dataclass: `aoai-ft validate` reads this table
    before it starts scanning, and pydantic's import can wait until the scan runs)."""

    name: str
    token_limit: int  # max tokens of one training example (chat-format count)
    encoding: str  # tiktoken encoding name


MODELS: dict[str, ModelInfo] = {
    m.name: m
    for m in (
        ModelInfo(name="gpt-35-turbo-0613", token_limit=4_096, encoding="cl100k_base"),  # the lab's model
        ModelInfo(name="gpt-35-turbo-1106", token_limit=16_385, encoding="cl100k_base"),
        ModelInfo(name="gpt-35-turbo-0125", token_limit=16_385, encoding="cl100k_base"),
        ModelInfo(name="gpt-4o-mini-2024-07-18", token_limit=65_536, encoding="o200k_base"),
        ModelInfo(name="gpt-4o-2024-08-06", token_limit=65_536, encoding="o200k_base"),
        ModelInfo(name="gpt-4.1-2025-04-14", token_limit=65_536, encoding="o200k_base"),
        ModelInfo(name="gpt-4.1-mini-2025-04-14", token_limit=65_536, encoding="o200k_base"),
        ModelInfo(name="gpt-4.1-nano-2025-04-14", token_limit=32_768, encoding="o200k_base"),
    )
}


FINE_TUNED_MARK = ".ft-"
"""Azure names a fine-tuned model `<base model>.ft-<32 hex>[-suffix]`: continuing from it trains the same base."""


def base_model(name: str) -> str:
    """The base model of a fine-tuned model id (continuous fine-tuning); a base model's name is returned as is."""
    base = name.split(FINE_TUNED_MARK, 1)[0]
    return base if FINE_TUNED_MARK in name and base in MODELS else name


def model_info(name: str) -> ModelInfo:
    """The table row for `name` (a base model, or a fine-tuned model of one); an unknown model is a usage error
    that lists the known ones."""
    try:
        return MODELS[base_model(name)]
    except KeyError:
        raise UsageError(
            f"unknown base model {name!r}",
            hint="use one of: " + ", ".join(MODELS),
        ) from None

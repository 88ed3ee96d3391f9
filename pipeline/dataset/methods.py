"""Training methods and the base models that support each: the one table to update when Azure adds a model.

`supervised` (chat format, every fine-tunable model) and `dpo` (direct preference optimization: the preference
format, pairs of a preferred and a non-preferred answer to the same conversation).
"""
from __future__ import annotations

from typing import Final, Literal

from pipeline.dataset.models import MODELS, base_model
from pipeline.errors import UsageError

Method = Literal["supervised", "dpo"]
METHODS: Final[tuple[Method, ...]] = ("supervised", "dpo")

DPO_MODELS: Final[tuple[str, ...]] = (
    "gpt-4o-2024-08-06",
    "gpt-4.1-2025-04-14",
    "gpt-4.1-mini-2025-04-14",
)
"""Base models Azure OpenAI trains with DPO. Source: Microsoft Learn, "Direct preference optimization (preview)"
(azure/ai-foundry/openai/how-to/fine-tuning-direct-preference-optimization, revision dated 2025-05-25): "gpt-4o-2024-08-06,
gpt-4.1-2025-04-14, gpt-4.1-mini-2025-04-14 supports direct preference optimization". OpenAI's own platform also
lists gpt-4.1-nano for DPO; Azure's page does not, so it is not here. The same page says a model already
fine-tuned from one of these (continuous fine-tuning) can be trained with DPO too."""

DEFAULT_BETA: Final = 0.1
"""The beta the emulator trains with when a job leaves it to the service ("auto"); 0.1 is the value the DPO
paper and Azure's DPO REST example use."""


def check_method(method: str) -> Method:
    if method not in METHODS:
        raise UsageError(f"unknown training method {method!r}", hint=f"use one of: {', '.join(METHODS)}")
    return method  # type: ignore[return-value]


def supports(method: str, base_model: str) -> bool:
    """Whether `base_model` (a base model name, not a fine-tuned id) can be trained with `method`."""
    if method == "dpo":
        return base_model in DPO_MODELS
    return base_model in MODELS


def unsupported_message(method: str, model: str) -> str:
    return (f"{model} cannot be trained with {method.upper() if method == 'dpo' else method}; "
            f"the models that can: {', '.join(DPO_MODELS)}")


def check_method_and_model(method: str | None, model: str) -> str:
    """The model to validate for (a fine-tuned model's base model: continuing it trains the same base); a
    UsageError for an unknown method."""
    if method is not None:
        check_method(method)
    return base_model(model)

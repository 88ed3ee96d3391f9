"""The emulator's use of the project's dataset library: is an uploaded file valid training data, what does
training on it bill, how many tokens does a chat message cost, and which (question, answer) pairs does it hold.

Validation and billing are the dataset library's (`pipeline.dataset.validate_file`), so the emulator
accepts and bills exactly what `aoai-ft validate` / `estimate` report.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable

import orjson

from pipeline.dataset.billing import default_epochs
from pipeline.dataset.models import DEFAULT_MODEL, MODELS
from pipeline.emulator.models import FINE_TUNABLE_BASE_MODELS

FIRST_PROBLEMS_SHOWN = 5


@dataclass(frozen=True)
class DataCheck:
    """What file processing concluded (persisted with the file)."""

    ok: bool
    details: str | None  # status_details: the first problems with their line numbers
    examples: int
    tokens_per_epoch: int  # billed tokens of one epoch (sum of min(example tokens, limit))
    method: str = "supervised"  # the file's format: "supervised" (chat) or "dpo" (preference pairs)


def check_training_file(path: Path, model: str = DEFAULT_MODEL) -> DataCheck:
    """Validate `path` like the service's file import does; never raises on bad data."""
    from pipeline.dataset import validate_file

    try:
        report = validate_file(path, model=model)
    except Exception as exc:  # unreadable file, tokenizer trouble: the file ends in `error`, as on Azure
        return DataCheck(False, f"File could not be processed: {exc}", 0, 0)
    epochs = max(1, int(report.billing.epochs))
    per_epoch = int(report.billing.billed_tokens) // epochs
    if report.ok:
        return DataCheck(True, None, int(report.examples), per_epoch, report.method)
    shown = [
        (f"line {p.line}: " if p.line else "") + f"{p.code}: {p.message}"
        for p in report.errors[:FIRST_PROBLEMS_SHOWN]
    ]
    more = len(report.errors) - len(shown)
    details = f"Training data validation failed ({len(report.errors)} error(s)): " + "; ".join(shown)
    if more > 0:
        details += f"; and {more} more"
    return DataCheck(False, details, int(report.examples), per_epoch, report.method)


def resolve_epochs(requested: Any, examples: int) -> int:
    """An explicit integer wins; "auto"/None gets OpenAI's default for the file size (dataset library)."""
    if isinstance(requested, int) and not isinstance(requested, bool) and requested > 0:
        return requested
    return default_epochs(examples)


def base_model_of(model: str) -> str:
    """`gpt-4o-mini-2024-07-18.ft-<hex>[-suffix][:ckpt-step-N]` -> `gpt-4o-mini-2024-07-18`."""
    base = model.split(".ft-", 1)[0]
    return base if base in MODELS or base in FINE_TUNABLE_BASE_MODELS else DEFAULT_MODEL


class ChatTokenCounter:
    """Chat-format token counts with the lab's formula (3 per message + tokens of each string value + 1 per
    `name` + 3 reply priming), using the dataset library's exact counter for the model's encoding."""

    def __init__(self) -> None:
        self._counters: dict[str, Any] = {}  # by encoding
        self._by_model: dict[str, Any] = {}  # the same counters by model name: a chat request counts several times

    def _counter(self, model: str) -> Any:
        counter = self._by_model.get(model)
        if counter is not None:
            return counter
        encoding = MODELS[base_model_of(model)].encoding if base_model_of(model) in MODELS else "o200k_base"
        counter = self._counters.get(encoding)
        if counter is None:
            from pipeline.dataset.counting import get_counter

            counter = self._counters[encoding] = get_counter(encoding)
        if len(self._by_model) < 10_000:  # model names come from requests: bounded
            self._by_model[model] = counter
        return counter

    def prompt_tokens(self, model: str, messages: Iterable[dict[str, Any]]) -> int:
        count = self._counter(model).count_text
        total = 3
        for message in messages:
            total += 3
            for key, value in message.items():
                if isinstance(value, str):
                    total += count(value)
                    if key == "name":
                        total += 1
        return total

    def text_tokens(self, model: str, text: str) -> int:
        return self._counter(model).count_text(text)


def _text_of(content: Any) -> str:
    """Message content as plain text (string, or the text parts of a content-part list)."""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return " ".join(p.get("text", "") for p in content if isinstance(p, dict) and isinstance(p.get("text"), str))
    return ""


def last_user_text(messages: Iterable[Any]) -> str:
    text = ""
    for message in messages:
        if isinstance(message, dict) and message.get("role") == "user":
            text = _text_of(message.get("content"))
    return text


def question_answer_pairs(path: Path) -> list[tuple[str, str]]:
    """(last user message, last assistant reply) of every parseable training example, streaming the file; for a
    preference pair the reply is the preferred one."""
    pairs: list[tuple[str, str]] = []
    with open(path, "rb") as handle:
        for raw in handle:
            raw = raw.strip().removeprefix(b"\xef\xbb\xbf")
            if not raw:
                continue
            try:
                example = orjson.loads(raw)
            except orjson.JSONDecodeError:
                continue
            messages = example.get("messages") if isinstance(example, dict) else None
            if isinstance(example, dict) and isinstance(example.get("input"), dict):  # a preference pair:
                preferred = example.get("preferred_output")  # the model learned the preferred reply
                messages = [*(example["input"].get("messages") or []),
                            *(preferred if isinstance(preferred, list) else [])]
            if not isinstance(messages, list):
                continue
            answer = ""
            for message in messages:
                if isinstance(message, dict) and message.get("role") == "assistant":
                    answer = _text_of(message.get("content")) or answer
            question = last_user_text(messages)
            if question and answer:
                pairs.append((question, answer))
    return pairs

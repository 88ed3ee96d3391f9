"""A held-out chat JSONL (the training format) as evaluation items; a preference (DPO) file works too, its
preferred reply being the reference answer.

Each line's last assistant turn is the reference answer and the user turn before it the question. What comes
before that question (the system message and any few-shot turns) is what the model is shown first: when every
line shares it (the usual case) it goes into the run's message template once; when lines differ, each item
carries its own messages and the run sends them by reference.
"""
from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict

from pipeline.errors import UsageError

ITEM_PROPERTIES = ("question", "reference")


class EvalItem(BaseModel):
    model_config = ConfigDict(frozen=True)

    question: str
    reference: str
    context: tuple[tuple[str, str], ...]  # (role, content) before the question


class EvalDataset(BaseModel):
    """The items of one held-out file, and the content hash that names them."""

    model_config = ConfigDict(frozen=True)

    path: str
    items: tuple[EvalItem, ...]
    sha256: str

    @property
    def shared_context(self) -> tuple[tuple[str, str], ...] | None:
        """The turns every item starts with, or None when items differ."""
        first = self.items[0].context
        return first if all(item.context == first for item in self.items) else None

    def item_schema(self) -> dict[str, Any]:
        properties: dict[str, Any] = {name: {"type": "string"} for name in ITEM_PROPERTIES}
        if self.shared_context is None:
            properties["messages"] = {"type": "array", "items": {"type": "object"}}
        return {"type": "object", "properties": properties, "required": list(properties)}

    def source_items(self) -> list[dict[str, Any]]:
        """`{"item": {...}}` rows of a run's `file_content` source."""
        shared = self.shared_context is not None
        rows = []
        for item in self.items:
            body: dict[str, Any] = {"question": item.question, "reference": item.reference}
            if not shared:
                body["messages"] = [{"role": r, "content": c} for r, c in item.context] + [
                    {"role": "user", "content": item.question}]
            rows.append({"item": body})
        return rows

    def input_messages(self) -> dict[str, Any]:
        """The run's `input_messages`: a template with the shared turns, or a reference to each item's messages."""
        shared = self.shared_context
        if shared is None:
            return {"type": "item_reference", "item_reference": "item.messages"}
        template = [{"role": r, "content": c} for r, c in shared]
        template.append({"role": "user", "content": "{{item.question}}"})
        return {"type": "template", "template": template}


def load_eval_dataset(path: Path) -> EvalDataset:
    """Read `path`; a line that is not a chat example ending in user -> assistant is a usage error naming it."""
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise UsageError(f"cannot read {path}: {exc.strerror or exc}",
                         hint="pass a held-out JSONL in the training format (default: the validation set)") from None
    items = []
    for number, line in enumerate(raw.decode("utf-8-sig", errors="replace").splitlines(), start=1):
        if not line.strip():
            continue
        items.append(_item(line, number, path))
    if not items:
        raise UsageError(f"{path} has no examples", hint="each line needs {\"messages\": [..., user, assistant]}")
    return EvalDataset(path=str(path), items=tuple(items), sha256=hashlib.sha256(raw).hexdigest())


def _item(line: str, number: int, path: Path) -> EvalItem:
    where = f"{path}:{number}"
    hint = 'each line is {"messages": [{"role": "system", ...}, {"role": "user", ...}, {"role": "assistant", ...}]}'
    try:
        example = json.loads(line)
    except json.JSONDecodeError as exc:
        raise UsageError(f"{where}: not valid JSON ({exc.msg})", hint=hint) from None
    messages = example.get("messages") if isinstance(example, dict) else None
    if isinstance(example, dict) and isinstance(example.get("input"), dict):  # a preference pair (DPO): the
        preferred = example.get("preferred_output")  # preferred reply is the reference answer
        messages = [*(example["input"].get("messages") or []), *(preferred if isinstance(preferred, list) else [])]
    if not isinstance(messages, list) or len(messages) < 2:
        raise UsageError(f"{where}: no 'messages' list with a question and an answer", hint=hint)
    turns = []
    for message in messages:
        content = message.get("content") if isinstance(message, dict) else None
        if not isinstance(content, str):
            raise UsageError(f"{where}: every message needs a text 'content'", hint=hint)
        turns.append((str(message.get("role")), content))
    if turns[-1][0] != "assistant" or turns[-2][0] != "user":
        raise UsageError(f"{where}: the last two messages must be a user question and the assistant's answer "
                         "(the reference)", hint=hint)
    return EvalItem(question=turns[-2][1], reference=turns[-1][1], context=tuple(turns[:-2]))

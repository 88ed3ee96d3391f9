"""Helpers for the dataset tests: the lab's own counting formula (the reference) and small JSONL writers."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from pipeline.dataset.tokenizer import get_encoding

SYSTEM = "The system is an AI teacher that helps people learn about AI"


def seed_counts(path: Path, encoding_name: str = "o200k_base") -> tuple[list[int], list[int]]:
    """The lab's Task 6 cell, unchanged apart from taking the path and returning the two lists."""
    encoding = get_encoding(encoding_name)

    def num_tokens_from_messages(messages, tokens_per_message=3, tokens_per_name=1):
        num_tokens = 0
        for message in messages:
            num_tokens += tokens_per_message
            for key, value in message.items():
                num_tokens += len(encoding.encode(value))
                if key == "name":
                    num_tokens += tokens_per_name
        num_tokens += 3
        return num_tokens

    def num_assistant_tokens_from_messages(messages):
        num_tokens = 0
        for message in messages:
            if message["role"] == "assistant":
                num_tokens += len(encoding.encode(message["content"]))
        return num_tokens

    with open(path, "r", encoding="utf-8") as f:
        dataset = [json.loads(line) for line in f]
    total_tokens = []
    assistant_tokens = []
    for ex in dataset:
        messages = ex.get("messages", {})
        total_tokens.append(num_tokens_from_messages(messages))
        assistant_tokens.append(num_assistant_tokens_from_messages(messages))
    return total_tokens, assistant_tokens


def seed_distribution(values: list[int]) -> dict[str, float]:
    """What the lab's print_distribution prints (its "p5 / p95" are really the 10th/90th percentiles)."""
    return {
        "min": min(values), "max": max(values), "mean": np.mean(values), "median": np.median(values),
        "p10": np.quantile(values, 0.1), "p90": np.quantile(values, 0.9),
    }


def example(question: str = "What is AI?", answer: str = "AI is software that learns from data.", **extra) -> dict:
    return {"messages": [{"role": "system", "content": SYSTEM}, {"role": "user", "content": question},
                         {"role": "assistant", "content": answer, **extra}]}


def write_lines(path: Path, lines: list[str | bytes | dict]) -> Path:
    """Write JSONL: dicts are dumped, str/bytes written as they are (so tests can write broken lines)."""
    with open(path, "wb") as f:
        for line in lines:
            if isinstance(line, dict):
                line = json.dumps(line, ensure_ascii=False)
            f.write((line.encode("utf-8") if isinstance(line, str) else line) + b"\n")
    return path


def good_lines(n: int = 10) -> list[dict]:
    return [example(f"Question {i} about AI?", f"Answer {i}: AI learns patterns from data.") for i in range(n)]

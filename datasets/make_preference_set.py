"""Build the sample preference (DPO) datasets from the teacher's chat datasets.

For every question the teacher's answer is the preferred reply; the non-preferred reply is a worse answer to the
same question: its first sentence cut to a few words, hedged and left unexplained - the vague reply a student
gets from a tutor who did not prepare. Run from the repository root:

    python datasets/make_preference_set.py
"""
from __future__ import annotations

import json
import re
from pathlib import Path

HERE = Path(__file__).resolve().parent
PAIRS = {"training_set.jsonl": "preference_training_set.jsonl",
         "validation_set.jsonl": "preference_validation_set.jsonl"}
WORDS_KEPT = 7


def worse_answer(answer: str) -> str:
    """A vague, unfinished version of `answer`: the start of its first sentence, hedged."""
    first = re.split(r"(?<=[.!?])\s", answer.strip(), maxsplit=1)[0].rstrip(".!?")
    words = first.split()
    short = " ".join(words[:WORDS_KEPT])
    if len(short) > 1 and short[1].islower():  # "Machine learning" -> "machine learning", but "AI" stays
        short = short[0].lower() + short[1:]
    return f"I think {short}... it depends, really." if short else "It depends."


def preference_line(chat_line: str) -> str:
    messages = json.loads(chat_line)["messages"]
    reply = messages[-1]
    assert reply["role"] == "assistant", "the teacher data ends every example on its answer"
    pair = {"input": {"messages": messages[:-1]},
            "preferred_output": [{"role": "assistant", "content": reply["content"]}],
            "non_preferred_output": [{"role": "assistant", "content": worse_answer(reply["content"])}]}
    return json.dumps(pair, ensure_ascii=False)


def main() -> None:
    for source, target in PAIRS.items():
        lines = [line for line in (HERE / source).read_text(encoding="utf-8").splitlines() if line.strip()]
        (HERE / target).write_text("\n".join(preference_line(line) for line in lines) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()

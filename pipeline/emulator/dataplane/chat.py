"""Chat completions on a deployment.

A deployment of a fine-tuned model answers with the assistant reply of the training example whose last user
message is most similar to the request's last user message (TF-IDF cosine over lower-cased words, via an
inverted index so large training files stay cheap). A base-model deployment gives a deterministic, clearly
generic answer, so a base-vs-fine-tuned comparison shows a real difference. Training examples are loaded
once per model and cached in memory.

`usage` uses the dataset library's exact token counter with the lab's chat formula (see training.py).
"""
from __future__ import annotations

import math
import re
import secrets
import threading
from collections import Counter, defaultdict
from pathlib import Path
from typing import Any, Callable

import numpy as np

from pipeline.emulator.dataplane.chat_request import check_context, parse_chat_request
from pipeline.emulator.dataplane.training import ChatTokenCounter, last_user_text, question_answer_pairs

WORD = re.compile(r"[a-z0-9]+")
SAFE = {"filtered": False, "severity": "safe"}
FILTER_RESULTS = {"hate": SAFE, "self_harm": SAFE, "sexual": SAFE, "violence": SAFE}


def words(text: str) -> list[str]:
    return WORD.findall(text.lower())


class NearestAnswer:
    """TF-IDF nearest neighbour over the training questions."""

    def __init__(self, pairs: list[tuple[str, str]]) -> None:
        self.answers = [a for _, a in pairs]
        n = len(pairs)
        doc_terms = [Counter(words(q)) for q, _ in pairs]
        df: Counter[str] = Counter()
        for terms in doc_terms:
            df.update(terms.keys())
        self.idf = {t: math.log((1 + n) / (1 + c)) + 1.0 for t, c in df.items()}
        postings: dict[str, list[tuple[int, float]]] = defaultdict(list)
        for doc, terms in enumerate(doc_terms):
            weights = {t: (1 + math.log(c)) * self.idf[t] for t, c in terms.items()}
            norm = math.sqrt(sum(w * w for w in weights.values())) or 1.0
            for t, w in weights.items():
                postings[t].append((doc, w / norm))
        self.postings = {
            t: (np.fromiter((d for d, _ in p), dtype=np.int64, count=len(p)),
                np.fromiter((w for _, w in p), dtype=np.float64, count=len(p)))
            for t, p in postings.items()
        }

    def answer(self, question: str) -> str | None:
        if not self.answers:
            return None
        terms = Counter(w for w in words(question) if w in self.postings)
        scores = np.zeros(len(self.answers))
        if terms:
            q = {t: (1 + math.log(c)) * self.idf[t] for t, c in terms.items()}
            norm = math.sqrt(sum(w * w for w in q.values()))
            for t, w in q.items():
                docs, weights = self.postings[t]
                np.add.at(scores, docs, weights * (w / norm))
        return self.answers[int(np.argmax(scores))]


def longest_prefix(most: int, fits: Callable[[int], bool], guess: int) -> int:
    """The largest k in [0, most] with fits(k), for a `fits` that holds at 0 and, once false, stays false.

    Probes `guess` first, then steps away from it in doubling strides and bisects what is left: a couple of
    probes when the guess is close (as a proportional one is), never more than about twice a plain bisection."""
    lo, hi = 0, most  # fits(lo); the answer is at most hi
    probe = min(max(guess, 0), most)
    if fits(probe):
        lo, stride = probe, 1
        while lo < hi:
            probe = min(lo + stride, hi)
            if not fits(probe):
                hi = probe - 1
                break
            lo, stride = probe, stride * 2
    else:
        hi, stride = probe - 1, 1
        while lo < hi:
            probe = max(hi - stride + 1, lo)
            if fits(probe):
                lo = probe
                break
            hi, stride = probe - 1, stride * 2
    while lo < hi:
        middle = (lo + hi + 1) // 2
        if fits(middle):
            lo = middle
        else:
            hi = middle - 1
    return lo


def generic_answer(model: str, question: str) -> str:
    shown = " ".join(question.split())[:120] or "your message"
    return (f"[{model} base model] Thanks for your question (\"{shown}\"). This is a general-purpose answer: "
            "I have not been fine-tuned on your data, so I can only offer a broad, generic response. Consider "
            "consulting domain-specific sources for details.")


class ChatResponder:
    def __init__(self, generalize: Callable[[str, str], str | None] | None = None) -> None:
        """`generalize(model, question)`: a held-out answer the model is simulated to have learned
        (see learning.py), or None."""
        self.tokens = ChatTokenCounter()
        self._indexes: dict[str, NearestAnswer] = {}
        self._lock = threading.Lock()
        self.generalize = generalize

    def index_for(self, model: str, training_data: Path) -> NearestAnswer:
        index = self._indexes.get(model)
        if index is None:
            with self._lock:
                index = self._indexes.get(model)
                if index is None:
                    pairs = question_answer_pairs(training_data) if training_data.exists() else []
                    index = self._indexes[model] = NearestAnswer(pairs)
        return index

    def reply_text(self, model: str, messages: list[Any], training_data: Path | None) -> str:
        question = last_user_text(messages)
        if training_data is not None and self.generalize is not None:
            learned = self.generalize(model, question)
            if learned is not None:
                return learned
        if training_data is not None:
            answer = self.index_for(model, training_data).answer(question)
            if answer is not None:
                return answer
        return generic_answer(model, question)

    def truncate(self, model: str, text: str, max_tokens: int | None) -> tuple[str, str, int]:
        """Cut `text` to at most `max_tokens` tokens (whole words) -> (text, finish_reason, its tokens)."""
        total = self.tokens.text_tokens(model, text)
        if not max_tokens or total <= max_tokens:
            return text, "stop", total
        parts = text.split(" ")
        counts = {0: 0}

        def fits(words: int) -> bool:
            if words not in counts:
                counts[words] = self.tokens.text_tokens(model, " ".join(parts[:words]))
            return counts[words] <= max_tokens

        # The longest word prefix that fits; tokens per word are nearly even, so start from the proportional guess.
        words = longest_prefix(len(parts) - 1, fits, len(parts) * max_tokens // total)
        return " ".join(parts[:words]), "length", counts[words]

    def completion(self, model: str, body: dict[str, Any], training_data: Path | None, now: float) -> dict[str, Any]:
        """The answer to a request `parse_chat_request` accepted; a prompt over the context window is refused."""
        request = parse_chat_request(body)
        messages = body["messages"]
        prompt = self.tokens.prompt_tokens(model, messages)
        check_context(prompt, request)
        cap = request.output_limit
        text, finish, tokens = self.truncate(model, self.reply_text(model, messages, training_data),
                                             cap[1] if cap else None)
        n = request.n or 1
        completion = tokens * n
        return {
            "id": "chatcmpl-" + secrets.token_hex(12), "object": "chat.completion", "created": int(now),
            "model": model, "system_fingerprint": None,
            "prompt_filter_results": [{"prompt_index": 0, "content_filter_results": FILTER_RESULTS}],
            "choices": [
                {"index": i, "finish_reason": finish, "logprobs": None,
                 "message": {"role": "assistant", "content": text, "refusal": None},
                 "content_filter_results": FILTER_RESULTS}
                for i in range(n)
            ],
            "usage": {"prompt_tokens": prompt, "completion_tokens": completion, "total_tokens": prompt + completion},
        }


def stream_chunks(completion: dict[str, Any]) -> list[dict[str, Any]]:
    """The completion as `chat.completion.chunk` events: role+content, then the finish reason (+usage)."""
    base = {k: completion[k] for k in ("id", "created", "model", "system_fingerprint")}
    first = {**base, "object": "chat.completion.chunk", "choices": [
        {"index": c["index"], "delta": {"role": "assistant", "content": c["message"]["content"]},
         "finish_reason": None, "logprobs": None, "content_filter_results": FILTER_RESULTS}
        for c in completion["choices"]]}
    last = {**base, "object": "chat.completion.chunk", "choices": [
        {"index": c["index"], "delta": {}, "finish_reason": c["finish_reason"], "logprobs": None}
        for c in completion["choices"]], "usage": completion["usage"]}
    return [first, last]

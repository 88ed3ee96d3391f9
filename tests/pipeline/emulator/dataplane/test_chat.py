"""Cutting an answer to `max_tokens`: the longest whole-word prefix that fits, found in a few token counts."""
from __future__ import annotations

import random

import pytest

from pipeline.emulator.dataplane.chat import ChatResponder, generic_answer, longest_prefix

MODEL = "gpt-4o-mini-2024-07-18"


@pytest.mark.parametrize("seed", range(200))
def test_longest_prefix_is_what_trying_every_length_finds(seed: int) -> None:
    rng = random.Random(seed)
    most = rng.randint(0, 60)
    answer = rng.randint(0, most)
    probes: list[int] = []

    def fits(k: int) -> bool:
        assert 0 <= k <= most
        probes.append(k)
        return k <= answer

    assert longest_prefix(most, fits, rng.randint(-5, most + 5)) == answer
    assert len(probes) <= 2 * (most.bit_length() + 1)


def test_a_close_guess_needs_two_probes() -> None:
    probes: list[int] = []
    assert longest_prefix(1000, lambda k: probes.append(k) or k <= 500, 500) == 500 and probes == [500, 501]


@pytest.mark.parametrize("max_tokens", [1, 2, 3, 5, 8, 13, 21, 34, 55])
def test_truncate_keeps_the_longest_word_prefix_within_max_tokens(max_tokens: int) -> None:
    responder = ChatResponder()
    count = lambda text: responder.tokens.text_tokens(MODEL, text)  # noqa: E731
    text = generic_answer(MODEL, "What is artificial intelligence, and how is it different from machine learning?")
    words = text.split(" ")
    expected = max(k for k in range(len(words) + 1) if count(" ".join(words[:k])) <= max_tokens)

    cut, finish, tokens = responder.truncate(MODEL, text, max_tokens)

    assert cut == " ".join(words[:expected]) and tokens == count(cut) <= max_tokens
    assert finish == ("stop" if expected == len(words) else "length")


def test_an_answer_that_fits_is_kept_whole_with_its_count() -> None:
    responder = ChatResponder()
    text = generic_answer(MODEL, "hi")
    assert responder.truncate(MODEL, text, None) == (text, "stop", responder.tokens.text_tokens(MODEL, text))
    assert responder.truncate(MODEL, text, 10_000)[:2] == (text, "stop")

"""The fast counters (rs-bpe, splintr) give tiktoken's counts: proven on data, fuzz, special tokens, lone surrogates;
and which one counts what."""
from __future__ import annotations

import json
import os
import random
import subprocess
import sys

import pytest

from pipeline.dataset.counting import SPECIAL_TOKENS, SPLINTR_MIN_BYTES, get_counter, without_surrogates
from pipeline.dataset.tokenizer import get_encoding
from pipeline.errors import TokenizerUnavailable

ENCODINGS = ["o200k_base", "cl100k_base"]
FAST = ["rs-bpe", "splintr"]
ALPHABETS = [
    "abcdefghijklmnopqrstuvwxyz ABCXYZ", "0123456789", " \t\n\r  \n\n", "'s'll're've'd", ".,;:!?-_/\\()[]{}<>|\"",
    "人工智能是让计算机完成任务的技术微调模型", "😀🚀👍🏽❤️", "\u200b\u00a0\u0301\u0308é", "àéîõüßçñ", "مرحبا", "Привет",
    "’s’T’", "\u3000\u2003\x0b\x0c\x85\u2028\r\n", "٣²½Ⅻ", "ǅǈʰˆAaBb", "𝔘\U0001d400ﬁ", "👨‍👩‍👧🇺🇸", "<|endoftext|>",
]


def _fuzz_strings(n: int, seed: int) -> list[str]:
    rnd = random.Random(seed)
    out = []
    for _ in range(n):
        parts = [rnd.choice(rnd.choice(ALPHABETS)) * rnd.randint(1, 3) for _ in range(rnd.randint(1, 40))]
        out.append("".join(parts))
    out += ["".join(chr(rnd.randint(0x20, 0x2FFF)) for _ in range(rnd.randint(1, 30))) for _ in range(n // 4)]
    out += ["".join(_any_character(rnd) for _ in range(rnd.randint(1, 30))) for _ in range(n // 4)]
    return out


def _any_character(rnd: random.Random) -> str:
    """Any code point but a surrogate (those have their own test), half of them ASCII."""
    while True:
        c = rnd.randint(0, 0x7F) if rnd.random() < 0.5 else rnd.randint(0x80, 0x10FFFF)
        if not 0xD800 <= c <= 0xDFFF:
            return chr(c)


@pytest.mark.parametrize("backend", FAST)
@pytest.mark.parametrize("encoding", ENCODINGS)
def test_fast_counters_equal_tiktoken_on_fuzz(encoding: str, backend: str) -> None:
    fast, reference = get_counter(encoding, backend), get_encoding(encoding)
    assert fast.backend == backend
    mismatches = [s for s in _fuzz_strings(2000, seed=11) if fast.count(s) != len(reference.encode_ordinary(s))]
    assert mismatches == []


def _messages(example: dict) -> list[dict]:
    """The messages of a chat example, or of a preference pair (conversation and both replies)."""
    if "messages" in example:
        return example["messages"]
    return [*example["input"]["messages"], *example["preferred_output"], *example["non_preferred_output"]]


@pytest.mark.parametrize("backend", FAST)
@pytest.mark.parametrize("encoding", ENCODINGS)
def test_fast_counters_equal_tiktoken_on_sample_data(encoding: str, backend: str, datasets_dir) -> None:
    fast, reference = get_counter(encoding, backend), get_encoding(encoding)
    texts = [v for p in datasets_dir.glob("*.jsonl") for line in p.read_text("utf-8").splitlines()
             for m in _messages(json.loads(line)) for v in m.values() if isinstance(v, str)]
    assert len(texts) > 200
    assert [fast.count(t) for t in texts] == [len(reference.encode(t)) for t in texts]


@pytest.mark.parametrize("backend", FAST)
@pytest.mark.parametrize("encoding", ENCODINGS)
def test_special_token_text_counts_as_ordinary_text(encoding: str, backend: str) -> None:
    counter, reference = get_counter(encoding, backend), get_encoding(encoding)
    assert SPECIAL_TOKENS[encoding] == reference.special_tokens_set
    for token in sorted(SPECIAL_TOKENS[encoding]):
        text = f"before {token} after<|fim_prefix|>"
        with pytest.raises(ValueError):  # what the lab's cell would do
            reference.encode(text)
        assert counter.count(text) == len(reference.encode_ordinary(text))
        assert token in counter.special_tokens_in(text)
    assert counter.special_tokens_in("a <| b |> c") == []


@pytest.mark.parametrize("backend", FAST)
@pytest.mark.parametrize("encoding", ENCODINGS)
def test_lone_surrogates_count_like_tiktoken(encoding: str, backend: str) -> None:
    counter, reference = get_counter(encoding, backend), get_encoding(encoding)
    for text in ["\ud800", "ab\udc00cd", "x\ud83d", "\ud83d\ude00 ok \udfff"]:
        with pytest.raises(UnicodeEncodeError):
            counter.count(text)
        assert counter.count_text(text) == len(reference.encode(text)) == len(reference.encode_ordinary(text))
    assert without_surrogates("a\ud800b") == "a\ufffdb"


def test_the_counter_follows_the_amount_of_text() -> None:
    """rs-bpe starts fast, splintr counts fast: small inputs (chat prompts, the sample files) get the first, files
    of SPLINTR_MIN_BYTES or more the second."""
    assert get_counter("o200k_base").backend == "rs-bpe"
    assert get_counter("o200k_base", text_bytes=SPLINTR_MIN_BYTES - 1).backend == "rs-bpe"
    assert get_counter("o200k_base", text_bytes=SPLINTR_MIN_BYTES).backend == "splintr"
    assert get_counter("cl100k_base", "rs-bpe", text_bytes=SPLINTR_MIN_BYTES).backend == "rs-bpe"


def test_the_variable_chooses_the_counter_on_every_call(monkeypatch: pytest.MonkeyPatch) -> None:
    """A counter loaded before the variable was set is not reused for another backend."""
    assert get_counter("o200k_base").backend == "rs-bpe"
    monkeypatch.setenv("AOAI_FT_TOKEN_COUNTER", "tiktoken")
    counter = get_counter("o200k_base", text_bytes=SPLINTR_MIN_BYTES)
    assert counter.backend == "tiktoken"
    assert counter.count_text("hello \ud800 world") == len(get_encoding("o200k_base").encode("hello \ud800 world"))
    monkeypatch.setenv("AOAI_FT_TOKEN_COUNTER", "splintr")
    assert get_counter("o200k_base").backend == "splintr"
    monkeypatch.setenv("AOAI_FT_TOKEN_COUNTER", "fasttok")
    with pytest.raises(TokenizerUnavailable, match="fasttok"):
        get_counter("cl100k_base")
    monkeypatch.delenv("AOAI_FT_TOKEN_COUNTER")
    assert get_counter("o200k_base").backend == "rs-bpe"


def test_unsupported_encoding() -> None:
    with pytest.raises(TokenizerUnavailable, match="p50k_base"):
        get_counter("p50k_base")


@pytest.mark.parametrize("backend", FAST)
def test_the_counter_starts_no_thread(backend: str) -> None:
    """The parallel scan forks after loading the counter: a thread inside it (a pool, say) would not survive the
    fork and could leave a lock held in the child. Checked in a fresh process, after loading and counting."""
    script = (
        "import os\n"
        "from pipeline.dataset.counting import get_counter\n"
        "before = len(os.listdir('/proc/self/task'))\n"
        f"counter = get_counter('o200k_base', {backend!r})\n"
        "assert counter.count('Hello, world! 你好 ' * 1000) > 0\n"
        "print(before, len(os.listdir('/proc/self/task')))\n"
    )
    if not os.path.isdir("/proc/self/task"):
        pytest.skip("needs Linux's /proc")
    env = {k: v for k, v in os.environ.items() if k != "AOAI_FT_TOKEN_COUNTER"}
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, env=env, check=True).stdout
    assert out.split() == ["1", "1"]

"""Exact token counts, equal to tiktoken's, fast.

tiktoken is the reference; two faster counters give its counts (tests/pipeline/dataset prove it on the sample
data, a generated file, random text across scripts, whitespace, digits and contractions, special-token text and
lone surrogates; `benchmarks/` measures the speed), and which one is faster depends on how much text there is:

- rs-bpe loads its embedded vocabulary in ~0.06 s and counts about 1.5x faster than tiktoken: small files, chat
  prompts.
- splintr (the `splintr-rs` wheel) counts about twice as fast as rs-bpe but needs ~0.13 CPU-s more to start (it
  builds a pair-rank table for merging): files of SPLINTR_MIN_BYTES and more.

Neither starts a thread, so the forked scan shares the loaded counter. Two differences from tiktoken's `encode`
are handled here:

- special-token text (`<|endoftext|>`): both count it as ordinary text, like tiktoken's `encode_ordinary`. The
  lab's `encoding.encode` raises instead; the validator warns (`special_token_text`) - see SPECIAL_TOKENS.
- lone surrogates (`"\\ud800"` from a JSON escape): both raise UnicodeEncodeError; tiktoken replaces them with
  U+FFFD first. `count_text` applies the same replacement, then counts.

Set `AOAI_FT_TOKEN_COUNTER` to `rs-bpe`, `splintr` or `tiktoken` to use one counter for everything.
"""
from __future__ import annotations

import os
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cache

from pipeline.errors import TokenizerUnavailable

COUNTER_ENV = "AOAI_FT_TOKEN_COUNTER"
BACKENDS = ("rs-bpe", "splintr", "tiktoken")
# From here on splintr's faster counting wins back its longer start: measured on 2 cores, the break-even is ~9 MB
# for a one-process scan and ~19 MB for a forked one (the start is paid before the fork, the counting is shared).
SPLINTR_MIN_BYTES = 16 * 1024 * 1024

# The special tokens of each encoding (tiktoken_ext/openai_public.py); a test checks them against tiktoken.
SPECIAL_TOKENS: dict[str, frozenset[str]] = {
    "o200k_base": frozenset({"<|endoftext|>", "<|endofprompt|>"}),
    "cl100k_base": frozenset(
        {"<|endoftext|>", "<|fim_prefix|>", "<|fim_middle|>", "<|fim_suffix|>", "<|endofprompt|>"}
    ),
}


def without_surrogates(text: str) -> str:
    """What tiktoken encodes when `text` holds lone surrogates (tiktoken/core.py's UnicodeEncodeError path)."""
    return text.encode("utf-16", "surrogatepass").decode("utf-16", "replace")


@dataclass(frozen=True)
class TokenCounter:
    """Counts tokens of one encoding. `count` is the raw fast call (may raise UnicodeEncodeError on lone
    surrogates); `count_text` is always safe."""

    encoding: str
    backend: str
    count: Callable[[str], int]
    special_pattern: re.Pattern[str] = field(repr=False)

    def count_text(self, text: str) -> int:
        try:
            return self.count(text)
        except UnicodeEncodeError:
            return self.count(without_surrogates(text))

    def special_tokens_in(self, text: str) -> list[str]:
        """Special-token strings that occur literally in `text` (cheap `<|` pre-check first)."""
        if "<|" not in text:
            return []
        return sorted(set(self.special_pattern.findall(text)))


def _rs_bpe_count(encoding: str) -> Callable[[str], int]:
    try:
        from rs_bpe.bpe import openai as rs_openai  # not `rs_bpe.openai`: that shim prints to stderr
    except ImportError as exc:
        raise TokenizerUnavailable(
            f"rs-bpe is not importable ({exc})",
            hint=f"pip install rs-bpe==0.1.0, or set {COUNTER_ENV}=tiktoken",
        ) from exc
    return getattr(rs_openai, encoding)().count


# Needs merging (no token spells it whole): counting it makes splintr build its pair-rank table now.
_MERGING_TEXT = "qzxv" * 4


def _splintr_count(encoding: str) -> Callable[[str], int]:
    """splintr's count, its merge table built up front: the table (~0.13 CPU-s for o200k) is otherwise built on
    the first text that needs merging, in every process that counts; built here, before the scan forks, its
    workers share it."""
    try:
        import splintr
    except ImportError as exc:
        raise TokenizerUnavailable(
            f"splintr is not importable ({exc})",
            hint=f"pip install splintr-rs==0.22.0, or set {COUNTER_ENV}=tiktoken",
        ) from exc
    encode = splintr.Tokenizer.from_pretrained(encoding).encode_ordinary
    encode(_MERGING_TEXT)
    return lambda text: len(encode(text))


def _tiktoken_count(encoding: str) -> Callable[[str], int]:
    from pipeline.dataset.tokenizer import get_encoding

    encode = get_encoding(encoding).encode_ordinary
    return lambda text: len(encode(text))


def get_counter(encoding: str, backend: str | None = None, *, text_bytes: int = 0) -> TokenCounter:
    """The exact counter for `encoding` (o200k_base or cl100k_base); backend from the argument, then
    $AOAI_FT_TOKEN_COUNTER, then the faster one for `text_bytes` of text (a file's size). Loaded once per process
    and backend."""
    if encoding not in SPECIAL_TOKENS:
        raise TokenizerUnavailable(f"unsupported encoding {encoding!r}", hint=f"use one of {', '.join(SPECIAL_TOKENS)}")
    backend = (backend or os.environ.get(COUNTER_ENV)
               or ("splintr" if text_bytes >= SPLINTR_MIN_BYTES else "rs-bpe"))
    if backend not in BACKENDS:
        raise TokenizerUnavailable(f"unknown token counter {backend!r}", hint=f"{COUNTER_ENV} must be one of {', '.join(BACKENDS)}")
    return _loaded_counter(encoding, backend)


_LOADERS: dict[str, Callable[[str], Callable[[str], int]]] = {
    "rs-bpe": _rs_bpe_count, "splintr": _splintr_count, "tiktoken": _tiktoken_count,
}


@cache
def _loaded_counter(encoding: str, backend: str) -> TokenCounter:
    pattern = re.compile("|".join(re.escape(t) for t in sorted(SPECIAL_TOKENS[encoding])))
    return TokenCounter(encoding=encoding, backend=backend, count=_LOADERS[backend](encoding), special_pattern=pattern)

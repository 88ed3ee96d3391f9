"""Offline vocabulary install: sha256-checked, where tiktoken looks, idempotent, never the network."""
from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from pipeline.dataset import tokenizer
from pipeline.dataset.tokenizer import VOCABULARIES, ensure_offline_vocab
from pipeline.errors import TokenizerUnavailable


@pytest.fixture
def own_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv(tokenizer.CACHE_DIR_ENV, str(tmp_path / "cache"))
    monkeypatch.delenv(tokenizer.TIKTOKEN_CACHE_ENV, raising=False)
    return tmp_path / "cache"


def test_cache_file_names_are_tiktokens_sha1_of_url() -> None:
    assert VOCABULARIES["o200k_base"].cache_name == hashlib.sha1(
        b"https://openaipublic.blob.core.windows.net/encodings/o200k_base.tiktoken").hexdigest()
    import tiktoken_ext.openai_public as public  # the URLs and hashes tiktoken itself uses
    source = Path(public.__file__).read_text()
    for vocab in VOCABULARIES.values():
        assert vocab.url in source and vocab.sha256 in source


def test_installs_both_vocabularies_with_the_expected_hashes(own_cache: Path) -> None:
    assert ensure_offline_vocab() == own_cache
    assert os.environ[tokenizer.TIKTOKEN_CACHE_ENV] == str(own_cache)
    for vocab in VOCABULARIES.values():
        assert hashlib.sha256((own_cache / vocab.cache_name).read_bytes()).hexdigest() == vocab.sha256


def test_second_call_does_not_rewrite(own_cache: Path) -> None:
    ensure_offline_vocab()
    stamps = {p.name: p.stat().st_mtime_ns for p in own_cache.iterdir()}
    ensure_offline_vocab()
    assert {p.name: p.stat().st_mtime_ns for p in own_cache.iterdir()} == stamps


def test_corrupt_cached_file_is_replaced(own_cache: Path) -> None:
    ensure_offline_vocab(("cl100k_base",))
    target = own_cache / VOCABULARIES["cl100k_base"].cache_name
    target.write_bytes(b"garbage")
    ensure_offline_vocab(("cl100k_base",))
    assert hashlib.sha256(target.read_bytes()).hexdigest() == VOCABULARIES["cl100k_base"].sha256


def test_valid_user_tiktoken_cache_is_respected(own_cache: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    ensure_offline_vocab()
    monkeypatch.setenv(tokenizer.TIKTOKEN_CACHE_ENV, str(own_cache))
    monkeypatch.setenv(tokenizer.CACHE_DIR_ENV, str(tmp_path / "other"))
    assert ensure_offline_vocab() == own_cache
    assert not (tmp_path / "other").exists()


def test_invalid_user_tiktoken_cache_is_not_used(own_cache: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    bad = tmp_path / "user-cache"
    bad.mkdir()
    (bad / VOCABULARIES["o200k_base"].cache_name).write_bytes(b"not a vocabulary")
    monkeypatch.setenv(tokenizer.TIKTOKEN_CACHE_ENV, str(bad))
    assert ensure_offline_vocab(("o200k_base",)) == own_cache
    assert os.environ[tokenizer.TIKTOKEN_CACHE_ENV] == str(own_cache)


def test_missing_wheel_vocabulary_is_a_clear_error(own_cache: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(tokenizer, "VOCAB_PACKAGE", "no_such_package_for_vocab")
    with pytest.raises(TokenizerUnavailable) as info:
        ensure_offline_vocab(("o200k_base",))
    assert "bpe-openai" in info.value.hint


def test_hash_mismatch_is_a_clear_error(own_cache: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    wrong = tokenizer.Vocabulary("o200k_base", VOCABULARIES["o200k_base"].url, "0" * 64)
    monkeypatch.setitem(tokenizer.VOCABULARIES, "o200k_base", wrong)
    with pytest.raises(TokenizerUnavailable, match="expected 0000"):
        ensure_offline_vocab(("o200k_base",))


def test_unknown_encoding_is_refused(own_cache: Path) -> None:
    with pytest.raises(TokenizerUnavailable, match="r50k_base"):
        ensure_offline_vocab(("r50k_base",))


def test_tiktoken_loads_in_a_fresh_process_with_downloads_forbidden(tmp_path: Path) -> None:
    script = textwrap.dedent("""
        import tiktoken.load
        def no_network(url):
            raise SystemExit("tiktoken tried to download " + url)
        tiktoken.load.read_file = no_network
        from pipeline.dataset.tokenizer import get_encoding
        print(len(get_encoding("o200k_base").encode("hello world")), len(get_encoding("cl100k_base").encode("hello")))
    """)
    env = {k: v for k, v in os.environ.items() if k != tokenizer.TIKTOKEN_CACHE_ENV}
    env[tokenizer.CACHE_DIR_ENV] = str(tmp_path / "fresh")
    done = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["2", "1"]

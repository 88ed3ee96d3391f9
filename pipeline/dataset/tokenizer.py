"""Offline tiktoken vocabularies.

tiktoken downloads its vocabulary on first use, which fails (or hangs on a dead proxy) on an offline
machine. The pinned `bpe-openai` wheel ships the same files gzipped, so we unpack them, check them against
the sha256 that tiktoken itself expects, and put them where tiktoken looks: `TIKTOKEN_CACHE_DIR`, file
name = sha1 of the vocabulary URL. Once that is done tiktoken never touches the network for these encodings.
"""
from __future__ import annotations

import gzip
import hashlib
import os
import tempfile
from dataclasses import dataclass
from functools import cache
import importlib.util
from pathlib import Path
from typing import TYPE_CHECKING

from pipeline.errors import TokenizerUnavailable

if TYPE_CHECKING:
    import tiktoken

CACHE_DIR_ENV = "AOAI_FT_TIKTOKEN_CACHE_DIR"
TIKTOKEN_CACHE_ENV = "TIKTOKEN_CACHE_DIR"  # tiktoken's own variable (tiktoken/load.py)
DEFAULT_CACHE_DIR = Path("~/.cache/aoai-finetune/tiktoken")
VOCAB_PACKAGE = "bpe_openai"  # bpe-openai==0.1.4 ships data/<name>.tiktoken.gz


@dataclass(frozen=True)
class Vocabulary:
    """One tiktoken vocabulary: where tiktoken would download it from and the hash it insists on."""

    name: str
    url: str
    sha256: str

    @property
    def cache_name(self) -> str:
        """The file name tiktoken uses in its cache directory (tiktoken.load.read_file_cached)."""
        return hashlib.sha1(self.url.encode()).hexdigest()


# URLs and hashes exactly as in tiktoken_ext/openai_public.py (tiktoken 0.14).
VOCABULARIES: dict[str, Vocabulary] = {
    "o200k_base": Vocabulary(
        "o200k_base",
        "https://openaipublic.blob.core.windows.net/encodings/o200k_base.tiktoken",
        "446a9538cb6c348e3516120d7c08b09f57c36495e2acfffe59a5bf8b0cfb1a2d",
    ),
    "cl100k_base": Vocabulary(
        "cl100k_base",
        "https://openaipublic.blob.core.windows.net/encodings/cl100k_base.tiktoken",
        "223921b76ee99bde995b7ff738513eef100fb51d18c93597a113bcffe865b2a7",
    ),
}

_INSTALL_HINT = "reinstall the pinned wheel: .venv/bin/pip install --force-reinstall bpe-openai==0.1.4"


def _sha256_of(path: Path) -> str | None:
    try:
        return hashlib.sha256(path.read_bytes()).hexdigest()
    except OSError:
        return None


def _holds_valid(directory: Path, vocab: Vocabulary) -> bool:
    return _sha256_of(directory / vocab.cache_name) == vocab.sha256


def project_cache_dir() -> Path:
    """Our own cache directory: `$AOAI_FT_TIKTOKEN_CACHE_DIR` or ~/.cache/aoai-finetune/tiktoken."""
    return Path(os.environ.get(CACHE_DIR_ENV) or DEFAULT_CACHE_DIR).expanduser()


def _package_dir(package: str) -> Path:
    """Where `package` is installed, found without importing it (bpe_openai's import does real work)."""
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        raise FileNotFoundError(f"package {package} is not installed")
    return Path(next(iter(spec.submodule_search_locations)))


def _wheel_vocab(vocab: Vocabulary) -> bytes:
    """The vocabulary file from the bpe-openai wheel, gunzipped and hash-checked."""
    try:
        packed = (_package_dir(VOCAB_PACKAGE) / "data" / f"{vocab.name}.tiktoken.gz").read_bytes()
    except OSError as exc:
        raise TokenizerUnavailable(
            f"the {vocab.name} vocabulary is not installed (bpe-openai's {vocab.name}.tiktoken.gz: {exc})",
            hint=_INSTALL_HINT,
        ) from exc
    try:
        data = gzip.decompress(packed)
    except (OSError, EOFError) as exc:
        raise TokenizerUnavailable(f"the bundled {vocab.name} vocabulary is corrupt: {exc}", hint=_INSTALL_HINT) from exc
    digest = hashlib.sha256(data).hexdigest()
    if digest != vocab.sha256:
        raise TokenizerUnavailable(
            f"the bundled {vocab.name} vocabulary has sha256 {digest}, expected {vocab.sha256}",
            hint=_INSTALL_HINT,
        )
    return data


def _install(directory: Path, vocab: Vocabulary) -> None:
    """Write the vocabulary atomically (temp file + rename), so a concurrent run never sees half a file."""
    data = _wheel_vocab(vocab)
    try:
        directory.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=directory, prefix=f".{vocab.name}.")
        with os.fdopen(fd, "wb") as out:
            out.write(data)
        os.replace(tmp, directory / vocab.cache_name)
    except OSError as exc:
        raise TokenizerUnavailable(
            f"cannot write the {vocab.name} vocabulary to {directory}: {exc}",
            hint=f"set {CACHE_DIR_ENV} to a writable directory",
        ) from exc


def ensure_offline_vocab(names: tuple[str, ...] = tuple(VOCABULARIES)) -> Path:
    """Make tiktoken able to load `names` with no network; return the cache directory it will use.

    Idempotent and cheap once installed (one sha256 per file). An existing `TIKTOKEN_CACHE_DIR` is
    respected only if it already holds valid copies; otherwise it is pointed at our own cache directory,
    so tiktoken never finds a missing/corrupt file and falls back to downloading.
    """
    unknown = [n for n in names if n not in VOCABULARIES]
    if unknown:
        raise TokenizerUnavailable(
            f"no offline vocabulary for {', '.join(unknown)}",
            hint=f"supported offline: {', '.join(VOCABULARIES)}",
        )
    wanted = [VOCABULARIES[n] for n in names]
    existing = os.environ.get(TIKTOKEN_CACHE_ENV)
    if existing and all(_holds_valid(Path(existing), v) for v in wanted):
        return Path(existing)
    directory = project_cache_dir()
    for vocab in wanted:
        if not _holds_valid(directory, vocab):
            _install(directory, vocab)
    os.environ[TIKTOKEN_CACHE_ENV] = str(directory)
    return directory


@cache
def get_encoding(name: str) -> "tiktoken.Encoding":
    """tiktoken's encoding `name`, loaded from the offline cache (never from the network)."""
    ensure_offline_vocab((name,))
    import tiktoken

    return tiktoken.get_encoding(name)

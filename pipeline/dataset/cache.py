"""Validation reports cached by file content, so an unchanged dataset costs one hash on every `pulumi preview`.

A report depends on the file's bytes, the model, the epochs and the rules that produced it. The key is a sha256 of
all four; the rules are the source of `pipeline.dataset` itself, so a new version of the checks never reuses an old
verdict. Reports live in the user's cache directory (`AOAI_FT_CACHE_DIR` overrides it). The cache is a convenience:
a missing, corrupt or unwritable cache only means validating again.
"""
from __future__ import annotations

import hashlib
import json
import os
from functools import lru_cache
from pathlib import Path
from typing import Final

from pydantic import ValidationError

from pipeline.dataset.report import FileReport

CACHE_DIR_ENV: Final = "AOAI_FT_CACHE_DIR"
FORMAT: Final = "1"


def default_cache_dir() -> Path:
    """`$AOAI_FT_CACHE_DIR`, else the platform's user cache dir (~/.cache/aoai-finetune/... on Linux)."""
    explicit = os.environ.get(CACHE_DIR_ENV)
    if explicit:
        return Path(explicit).expanduser()
    from platformdirs import user_cache_path

    return user_cache_path("aoai-finetune") / "validation"


@lru_cache(maxsize=1)
def rules_digest() -> str:
    """sha256 over the source of the dataset package: what decides a report's content."""
    digest = hashlib.sha256()
    for source in sorted(Path(__file__).parent.glob("*.py")):
        digest.update(source.name.encode())
        digest.update(source.read_bytes())
    return digest.hexdigest()


class ReportCache:
    """File reports keyed by (content sha256, model, epochs, rules)."""

    def __init__(self, directory: Path | None = None) -> None:
        self.directory = directory if directory is not None else default_cache_dir()

    def key(self, content_sha256: str, *, model: str, n_epochs: int | None, method: str | None = None) -> str:
        parts = [FORMAT, rules_digest(), content_sha256, model, str(n_epochs)]
        if method is not None:  # None = detected from the content, which the hash already covers
            parts.append(method)
        return hashlib.sha256("|".join(parts).encode()).hexdigest()

    def get(self, key: str, path: Path) -> FileReport | None:
        """The cached report, re-labelled with today's path; None when absent or unreadable."""
        try:
            report = FileReport.model_validate_json((self.directory / f"{key}.json").read_bytes())
        except (OSError, ValueError, ValidationError):
            return None
        return report.model_copy(update={"path": str(path)})

    def put(self, key: str, report: FileReport) -> None:
        try:
            self.directory.mkdir(parents=True, exist_ok=True)
            target = self.directory / f"{key}.json"
            partial = target.with_suffix(f".{os.getpid()}.tmp")
            partial.write_text(json.dumps(report.model_dump(mode="json")), encoding="utf-8")
            partial.replace(target)  # atomic: a concurrent reader sees the old file or the whole new one
        except OSError:
            pass  # read-only home, full disk: validating again next time is the only cost

"""The content hash of a dataset file: what dedups uploads, keys cached reports and triggers retraining."""
from __future__ import annotations

import hashlib
from functools import lru_cache
from pathlib import Path


def content_hash(path: Path) -> str:
    """sha256 of the file's bytes, streamed (training files can be hundreds of MB).

    Remembered per process for an unchanged file (same path, size and modification time), so a `pulumi preview`
    that checks the dataset's cached report and then declares its hash reads a large file once, not twice.
    """
    stat = Path(path).stat()
    return _hash(str(Path(path).resolve()), stat.st_size, stat.st_mtime_ns)


@lru_cache(maxsize=64)
def _hash(path: str, size: int, mtime_ns: int) -> str:
    with open(path, "rb") as fh:
        return hashlib.file_digest(fh, "sha256").hexdigest()

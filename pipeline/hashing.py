"""The content hash of a dataset file: what dedups uploads, keys cached reports and triggers retraining."""
from __future__ import annotations

import hashlib
from pathlib import Path


def content_hash(path: Path) -> str:
    """sha256 of the file's bytes, streamed (training files can be hundreds of MB)."""
    with Path(path).open("rb") as fh:
        return hashlib.file_digest(fh, "sha256").hexdigest()

"""The vendored specs are the official files named in SOURCE.txt, byte for byte."""
from __future__ import annotations

import hashlib
import re

import pytest

from tests.paths import ARM_SPEC, DATAPLANE_SPEC, SPECS


@pytest.mark.parametrize("path", [DATAPLANE_SPEC, ARM_SPEC], ids=lambda p: p.name)
def test_sha256_matches_the_source_note(path) -> None:
    source = (SPECS / "SOURCE.txt").read_text(encoding="utf-8")
    section = source.split(f"{path.name}:", 1)[1]
    recorded = re.search(r"sha256:\s+([0-9a-f]{64})", section)
    assert recorded is not None
    assert hashlib.sha256(path.read_bytes()).hexdigest() == recorded.group(1)

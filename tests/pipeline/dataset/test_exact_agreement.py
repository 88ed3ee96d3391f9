"""Per-example counts and distributions are identical to the lab's own cell run with tiktoken."""
from __future__ import annotations

from pathlib import Path

import pytest

from pipeline.dataset import scan_file, validate_file
from tests.pipeline.dataset.helpers import seed_counts, seed_distribution

SAMPLES = ["training_set.jsonl", "validation_set.jsonl"]


@pytest.mark.parametrize("name", SAMPLES)
@pytest.mark.parametrize("model", ["gpt-4o-mini-2024-07-18", "gpt-35-turbo-0613"])
def test_sample_datasets_match_the_seed(datasets_dir: Path, name: str, model: str) -> None:
    encoding = "cl100k_base" if model.startswith("gpt-35") else "o200k_base"
    totals, assistants = seed_counts(datasets_dir / name, encoding)
    scan = scan_file(datasets_dir / name, model=model)
    assert list(scan.totals) == totals
    assert list(scan.assistants) == assistants
    report = validate_file(datasets_dir / name, model=model)
    assert report.ok, report.errors
    assert report.tokens.total.model_dump() == pytest.approx(seed_distribution(totals))
    assert report.tokens.assistant.model_dump() == pytest.approx(seed_distribution(assistants))


@pytest.mark.parametrize("counter", ["rs-bpe", "splintr"])
def test_generated_file_matches_the_seed_serial_and_forked(generated, counter: str, monkeypatch) -> None:
    """With either fast counter (a file this small gets rs-bpe unless the variable says otherwise)."""
    monkeypatch.setenv("AOAI_FT_TOKEN_COUNTER", counter)
    path = generated(3000)
    totals, assistants = seed_counts(path)
    serial = scan_file(path, parallel=False)
    forked = scan_file(path, parallel=True)
    for scan in (serial, forked):
        assert list(scan.totals) == totals
        assert list(scan.assistants) == assistants
        assert scan.examples == 3000 and scan.errors == []
    report = validate_file(path)
    assert report.tokens.total.model_dump() == seed_distribution(totals)  # exactly, not approximately
    assert report.tokens.assistant.model_dump() == seed_distribution(assistants)

"""Epoch rule, billed tokens, distributions, the model table and the price table."""
from __future__ import annotations

import json
from array import array
from pathlib import Path

import numpy as np
import pytest

from pipeline.dataset import MODELS, default_prices, estimate_training_cost, load_prices, model_info, validate_files
from pipeline.dataset.billing import billed_tokens, default_epochs
from pipeline.dataset.stats import distribution
from pipeline.errors import UsageError
from tests.pipeline.dataset.helpers import good_lines, write_lines


@pytest.mark.parametrize("examples, epochs", [
    (1, 25), (3, 25), (4, 25), (5, 20), (10, 10), (33, 4), (34, 3), (100, 3), (8333, 3), (8334, 2), (12500, 2),
    (12501, 1), (50000, 1), (1_000_000, 1),
])
def test_default_epochs(examples: int, epochs: int) -> None:
    assert default_epochs(examples) == epochs
    assert 100 <= examples * epochs or epochs == 25
    assert examples * epochs <= 25000 or epochs == 1


def test_billed_tokens_caps_each_example_at_the_limit() -> None:
    assert billed_tokens([10, 20, 5000], token_limit=4096, epochs=3) == (10 + 20 + 4096) * 3
    assert billed_tokens(array("q", [10, 20, 5000, 4096]), token_limit=4096, epochs=2) == (10 + 20 + 4096 * 2) * 2
    assert billed_tokens(array("q"), token_limit=4096, epochs=3) == 0
    assert type(billed_tokens([1], token_limit=4096, epochs=1)) is int


def test_distribution_matches_numpy() -> None:
    values = [5, 1, 9, 3, 7, 7, 2]
    dist = distribution(values)
    assert dist.model_dump() == {"min": 1, "max": 9, "mean": np.mean(values), "median": 5.0,
                                 "p10": np.quantile(values, 0.1), "p90": np.quantile(values, 0.9)}
    assert distribution([]) is None


def test_model_table() -> None:
    assert model_info("gpt-4o-mini-2024-07-18").token_limit == 65_536
    assert model_info("gpt-35-turbo-0613").token_limit == 4_096
    assert model_info("gpt-35-turbo-0613").encoding == "cl100k_base"
    with pytest.raises(UsageError) as info:
        model_info("gpt-5-turbo")
    assert "gpt-4o-mini-2024-07-18" in info.value.hint


def test_every_model_has_a_default_price_with_source_and_date() -> None:
    prices = default_prices()
    assert set(MODELS) <= set(prices.training_per_million)
    assert "http" in prices.source and prices.as_of


def test_cost_estimate() -> None:
    est = estimate_training_cost(2_000_000, "gpt-4o-mini-2024-07-18")
    assert est.usd == pytest.approx(2 * est.price_per_million)
    assert "estimate" in est.note


@pytest.mark.parametrize("suffix", [".json", ".yaml"])
def test_price_file_overrides_and_keeps_other_defaults(tmp_path: Path, suffix: str) -> None:
    data = {"source": "my negotiated rate", "as_of": "2026-01-10", "training_per_million": {"gpt-4o-mini-2024-07-18": 10}}
    path = tmp_path / f"prices{suffix}"
    path.write_text(json.dumps(data))  # JSON is valid YAML too
    prices = load_prices(path)
    assert prices.training_per_million["gpt-4o-mini-2024-07-18"] == 10
    assert prices.training_per_million["gpt-4o-2024-08-06"] == default_prices().training_per_million["gpt-4o-2024-08-06"]
    assert estimate_training_cost(1_000_000, "gpt-4o-mini-2024-07-18", prices).source == "my negotiated rate"


@pytest.mark.parametrize("content, match", [
    ("{not json", "not valid JSON"), ('{"training_per_million": {"gpt-4o-mini-2024-07-18": -1}}', ">= 0"),
    ('{"training_per_million": [1, 2]}', "must map"), ("[1, 2]", "expected a mapping"),
])
def test_bad_price_files_are_usage_errors(tmp_path: Path, content: str, match: str) -> None:
    path = tmp_path / "prices.json"
    path.write_text(content)
    with pytest.raises(UsageError, match=match):
        load_prices(path)


def test_missing_price_file(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="cannot read price file"):
        load_prices(tmp_path / "nope.yaml")


def test_validate_files_estimates_on_the_training_file_only(tmp_path: Path) -> None:
    train = write_lines(tmp_path / "t.jsonl", good_lines(20))
    valid = write_lines(tmp_path / "v.jsonl", good_lines(40))
    report = validate_files([train, valid], n_epochs=2)
    assert report.ok
    assert report.estimate.training_file == str(train)
    assert report.estimate.epochs == 2
    assert report.estimate.billed_tokens == report.files[0].billing.billed_tokens
    assert report.files[0].billing.billed_tokens == 2 * round(report.files[0].tokens.total.mean * 20)
    assert set(report.model_dump()) == {"ok", "files", "estimate", "no_estimate"} and report.no_estimate is None


def test_validate_files_usage_errors(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="no such file"):
        validate_files([tmp_path / "missing.jsonl"])
    with pytest.raises(UsageError, match="directory"):
        validate_files([tmp_path])
    with pytest.raises(UsageError, match="no files"):
        validate_files([])


def test_require_valid(tmp_path: Path) -> None:
    from pipeline.dataset import require_valid
    from pipeline.errors import DatasetInvalid

    good = validate_files([write_lines(tmp_path / "good.jsonl", good_lines(10))])
    assert require_valid(good) is good
    bad = validate_files([write_lines(tmp_path / "bad.jsonl", good_lines(3))])
    with pytest.raises(DatasetInvalid, match="too_few_examples x1") as info:
        require_valid(bad)
    assert info.value.report is bad and "aoai-ft validate" in info.value.hint

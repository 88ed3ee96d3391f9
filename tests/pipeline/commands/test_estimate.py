"""`aoai-ft estimate`: tokens x epochs x price, overridable prices, budget check."""
from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from pipeline.cli import cli
from pipeline.errors import BudgetExceeded
from tests.pipeline.dataset.helpers import good_lines, write_lines


def _estimate(*args: str) -> dict:
    result = CliRunner().invoke(cli, ["estimate", *args, "--json"])
    assert result.exit_code == 0, result.output
    return json.loads(result.output)


def test_estimate_of_sample_training_set(datasets_dir: Path) -> None:
    est = _estimate(str(datasets_dir / "training_set.jsonl"))
    assert est["epochs"] == 3  # 57 examples x 3 = 171, inside [100, 25000]
    assert est["usd"] == round(est["billed_tokens"] * est["price_per_million"] / 1e6, 4)
    assert est["billed_tokens"] % 3 == 0 and "estimate" in est["note"]


def test_price_file_and_epochs_override(tmp_path: Path, datasets_dir: Path) -> None:
    prices = tmp_path / "prices.yaml"
    prices.write_text("source: test table\nas_of: '2026-01-01'\ntraining_per_million:\n  gpt-4o-mini-2024-07-18: 100\n")
    base = _estimate(str(datasets_dir / "training_set.jsonl"))
    est = _estimate(str(datasets_dir / "training_set.jsonl"), "--prices", str(prices), "--epochs", "6")
    assert est["epochs"] == 6 and est["billed_tokens"] == 2 * base["billed_tokens"]
    assert est["price_per_million"] == 100 and est["source"] == "test table"
    assert est["usd"] == round(est["billed_tokens"] * 100 / 1e6, 4)


def test_human_output_says_it_is_an_estimate(datasets_dir: Path) -> None:
    result = CliRunner().invoke(cli, ["estimate", str(datasets_dir / "training_set.jsonl")])
    assert result.exit_code == 0
    assert "Estimate only" in result.output and "as of" in result.output


def test_budget_exceeded(datasets_dir: Path) -> None:
    result = CliRunner().invoke(cli, ["estimate", str(datasets_dir / "training_set.jsonl"), "--max-usd", "0.0001"])
    assert result.exit_code == BudgetExceeded.exit_code == 1
    assert "Error: estimated training cost $" in result.output and "above --max-usd $0.00" in result.output
    assert "  hint: use fewer examples or epochs" in result.output
    assert CliRunner().invoke(cli, ["estimate", str(datasets_dir / "training_set.jsonl"), "--max-usd", "100"]).exit_code == 0


def test_invalid_file_exits_1(tmp_path: Path) -> None:
    path = write_lines(tmp_path / "few.jsonl", good_lines(4))
    result = CliRunner().invoke(cli, ["estimate", str(path)])
    assert result.exit_code == 1
    assert "aoai-ft validate" in result.output


def test_an_empty_file_has_no_estimate(tmp_path: Path, capsys) -> None:
    from tests.pipeline.emulated import run_main

    empty = tmp_path / "empty.jsonl"
    empty.write_text("", encoding="utf-8")
    for extra in ([], ["--json"]):
        code, out, err = run_main(["estimate", str(empty), *extra], capsys)
        assert code == 1 and out == "" and "Traceback" not in err
        assert err.splitlines()[0] == f"Error: no estimate: {empty} has nothing to train on: it holds no examples"
        assert err.splitlines()[1].startswith("  hint: add chat examples")


@pytest.mark.parametrize("price", [".nan", ".inf", "-1"])
def test_a_price_that_is_not_a_number_at_or_above_zero_is_refused(datasets_dir: Path, tmp_path: Path,
                                                                  price: str) -> None:
    prices = tmp_path / "prices.yaml"
    prices.write_text(f"training_per_million:\n  gpt-4o-mini-2024-07-18: {price}\n")
    result = CliRunner().invoke(cli, ["estimate", str(datasets_dir / "training_set.jsonl"), "--prices", str(prices)])
    assert result.exit_code == 2, result.output
    assert f"Error: {prices}: training_per_million: prices must be numbers >= 0" in result.output
    assert "Value error" not in result.output and "$nan" not in result.output and "$inf" not in result.output


@pytest.mark.parametrize("command", ["estimate", "validate"])
@pytest.mark.parametrize(("content", "error", "hint"), [
    ("gpt-4o-mini-2024-07-18: 100\nsource: mine\n",  # a model's price at the top level, not under training_per_million
     "unknown key 'gpt-4o-mini-2024-07-18' (a price file holds only currency, source, as_of and training_per_million)",
     "put model prices under training_per_million, USD per 1M training tokens: e.g. "),
    ("training_per_million: 5\n", "training_per_million must map model names to USD per 1M tokens",
     "under it, map each model name to its price: e.g. "),
])
def test_a_price_file_in_another_layout_is_refused(datasets_dir: Path, tmp_path: Path, command: str, content: str,
                                                   error: str, hint: str) -> None:
    prices = tmp_path / "prices.yaml"
    prices.write_text(content, encoding="utf-8")
    result = CliRunner().invoke(cli, [command, str(datasets_dir / "training_set.jsonl"), "--prices", str(prices)])
    assert result.exit_code == 2, result.output
    assert result.output.splitlines()[0] == f"Error: {prices}: {error}"
    assert result.output.splitlines()[1].startswith(f"  hint: {hint}")

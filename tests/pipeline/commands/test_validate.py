"""`aoai-ft validate` through click's CliRunner and as a real subprocess."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from pipeline.cli import cli
from tests.pipeline.dataset.helpers import good_lines, write_lines
from tests.paths import AOAI_FT

ROOT = Path(__file__).resolve().parents[3]
DIST_KEYS = {"min", "max", "mean", "median", "p10", "p90"}


def test_sample_datasets_are_valid_json(datasets_dir: Path) -> None:
    train, valid = datasets_dir / "training_set.jsonl", datasets_dir / "validation_set.jsonl"
    result = CliRunner().invoke(cli, ["validate", str(train), str(valid), "--json"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.output)
    assert set(report) == {"ok", "files", "estimate", "no_estimate"} and report["ok"] is True
    assert report["no_estimate"] is None
    for file, minimum in zip(report["files"], (50, 15)):
        assert set(file) == {"path", "ok", "method", "examples", "errors", "warnings", "error_counts", "tokens",
                             "billing"}
        assert file["method"] == "supervised"
        assert file["ok"] and file["examples"] >= minimum and file["errors"] == []
        assert set(file["tokens"]) == {"total", "assistant"}
        assert set(file["tokens"]["total"]) == DIST_KEYS == set(file["tokens"]["assistant"])
        assert set(file["billing"]) == {"epochs", "billed_tokens"}
    assert report["estimate"]["usd"] > 0 and report["estimate"]["as_of"] and report["estimate"]["source"]


@pytest.mark.parametrize(("chosen", "expected"), [(None, "1"), ("4", "4")])
def test_blas_threads_default_to_one_unless_chosen(datasets_dir: Path, monkeypatch: pytest.MonkeyPatch,
                                                   chosen: str | None, expected: str) -> None:
    """numpy loads for the statistics only: its OpenBLAS thread pool would spin on the cores that scan."""
    monkeypatch.setenv("OPENBLAS_NUM_THREADS", "restored after the test")
    if chosen is None:
        monkeypatch.delenv("OPENBLAS_NUM_THREADS")
    else:
        monkeypatch.setenv("OPENBLAS_NUM_THREADS", chosen)
    for command in ("validate", "estimate"):
        assert CliRunner().invoke(cli, [command, str(datasets_dir / "training_set.jsonl")]).exit_code == 0
        assert os.environ["OPENBLAS_NUM_THREADS"] == expected


def test_human_report(datasets_dir: Path) -> None:
    result = CliRunner().invoke(cli, ["validate", str(datasets_dir / "training_set.jsonl")])
    assert result.exit_code == 0
    assert "p10" in result.output and "p90" in result.output and "p5" not in result.output
    assert "Estimate only" in result.output
    assert "OK: 1 file(s) valid." in result.output


def test_errors_exit_1_with_codes_and_lines(tmp_path: Path) -> None:
    lines: list = good_lines(12)
    lines[4] = '{"messages": ['
    lines[7] = {"messages": [{"role": "robot", "content": "x"}, {"role": "assistant", "content": "y"}]}
    path = write_lines(tmp_path / "bad.jsonl", lines)
    result = CliRunner().invoke(cli, ["validate", str(path)])
    assert result.exit_code == 1
    assert "invalid_json" in result.output and "line 5" in result.output
    assert "unrecognized_role" in result.output and "line 8" in result.output
    assert "INVALID" in result.output
    as_json = json.loads(CliRunner().invoke(cli, ["validate", str(path), "--json"]).output)
    assert [(e["line"], e["code"]) for e in as_json["files"][0]["errors"]] == [(5, "invalid_json"), (8, "unrecognized_role")]


def test_model_option_changes_limit(tmp_path: Path) -> None:
    lines: list = good_lines(10)
    lines[2]["messages"][2]["content"] = "token " * 5000
    path = write_lines(tmp_path / "long.jsonl", lines)
    assert CliRunner().invoke(cli, ["validate", str(path)]).exit_code == 0
    lab = CliRunner().invoke(cli, ["validate", str(path), "--model", "gpt-35-turbo-0613", "--json"])
    assert lab.exit_code == 1
    assert json.loads(lab.output)["files"][0]["error_counts"] == {"example_too_long": 1}


def test_missing_file_and_unknown_model_are_usage_errors(tmp_path: Path, datasets_dir: Path) -> None:
    result = CliRunner().invoke(cli, ["validate", str(tmp_path / "missing.jsonl")])
    assert result.exit_code == 2 and result.output.startswith(f"Error: no such file: {tmp_path / 'missing.jsonl'}")
    result = CliRunner().invoke(cli, ["validate", str(datasets_dir / "training_set.jsonl"), "--model", "gpt-9"])
    assert result.exit_code == 2 and "Error: " in result.output
    assert "  hint: " in result.output and "gpt-4o-mini-2024-07-18" in result.output.split("  hint: ", 1)[1]


@pytest.mark.skipif(not AOAI_FT.exists(), reason="console script not installed next to this interpreter")
def test_real_subprocess_exit_codes(tmp_path: Path) -> None:
    env = dict(os.environ)
    ok = subprocess.run([str(AOAI_FT), "validate", "datasets/training_set.jsonl", "datasets/validation_set.jsonl", "--json"],
                        cwd=ROOT, env=env, capture_output=True, text=True, timeout=60)
    assert ok.returncode == 0, ok.stderr
    assert json.loads(ok.stdout)["ok"] is True
    bad = write_lines(tmp_path / "bad.jsonl", good_lines(3))
    invalid = subprocess.run([str(AOAI_FT), "validate", str(bad)], env=env, capture_output=True, text=True, timeout=60)
    assert invalid.returncode == 1 and "too_few_examples" in invalid.stdout
    missing = subprocess.run([str(AOAI_FT), "validate", str(tmp_path / "nope.jsonl")], env=env,
                             capture_output=True, text=True, timeout=60)
    assert missing.returncode == 2
    assert "no such file" in missing.stderr and "Traceback" not in missing.stderr + missing.stdout


def test_the_process_ends_without_collecting_its_objects() -> None:
    """After the report is printed, the interpreter's last garbage collections were the longest step left: main()
    freezes every object at exit, so they pass over none."""
    code = (
        "import atexit, gc, sys\n"
        "atexit.register(lambda: print('frozen at exit:', gc.get_freeze_count() > 0))  # runs after main()'s\n"
        "from pipeline.cli import main\n"
        "for _ in range(2):\n"
        "    try:\n"
        "        main(['validate', 'datasets/training_set.jsonl', '--json'])\n"
        "    except SystemExit as exit:\n"
        "        assert exit.code == 0\n"
        "print('frozen before exit:', gc.get_freeze_count() > 0)\n"
    )
    run = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert run.returncode == 0, run.stderr
    assert run.stdout.splitlines()[-2:] == ["frozen before exit: False", "frozen at exit: True"]


@pytest.mark.parametrize(("content", "why"), [("", "it holds no examples"), ("\n\n", "it holds no examples"),
                                              ("not json\n{}\n", "none of its lines is a usable example")])
def test_nothing_to_train_on_gets_no_estimate_but_a_reason(tmp_path: Path, content: str, why: str) -> None:
    empty = tmp_path / "empty.jsonl"
    empty.write_text(content, encoding="utf-8")
    shown = CliRunner().invoke(cli, ["validate", str(empty)])
    assert shown.exit_code == 1, shown.output
    assert "$0.00" not in shown.output and "Estimated training cost" not in shown.output
    assert f"No cost estimate: {empty} has nothing to train on: {why}." in shown.output
    as_json = json.loads(CliRunner().invoke(cli, ["validate", str(empty), "--json"]).stdout)
    assert as_json["estimate"] is None and as_json["no_estimate"].endswith(why)


@pytest.mark.skipif(not AOAI_FT.exists(), reason="console script not installed next to this interpreter")
def test_dash_reads_standard_input(datasets_dir: Path) -> None:
    """`aoai-ft validate -` and `aoai-ft estimate -` read a pipe (a real one: /dev/stdin is the process's fd 0)."""
    def run(*args: str, stdin: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([str(AOAI_FT), *args], input=stdin, cwd=ROOT, capture_output=True, text=True,
                              timeout=60)

    validation = (datasets_dir / "validation_set.jsonl").read_text(encoding="utf-8")
    checked = run("validate", "datasets/training_set.jsonl", "-", "--json", stdin=validation)
    assert checked.returncode == 0, checked.stderr
    assert [f["examples"] for f in json.loads(checked.stdout)["files"]] == [57, 16]
    priced = run("estimate", "-", "--json", stdin=(datasets_dir / "training_set.jsonl").read_text(encoding="utf-8"))
    assert priced.returncode == 0 and json.loads(priced.stdout)["billed_tokens"] > 0, priced.stderr
    twice = run("validate", "-", "-", stdin=validation)
    assert twice.returncode == 2 and "Error: standard input (-) is named more than once" in twice.stderr


@pytest.mark.parametrize(("counter", "package"), [("rs-bpe", "rs_bpe"), ("splintr", "splintr")])
def test_a_missing_counter_package_is_one_error_with_the_fix(counter: str, package: str) -> None:
    """Each counter's wheel missing (here: its import blocked): one error naming the counter, how to install it
    and the tiktoken fallback; no traceback, exit 1."""
    code = (
        "import sys\n"
        f"sys.modules[{package!r}] = None  # what an uninstalled package looks like to `import`\n"
        "from pipeline.cli import main\n"
        "main(['validate', 'datasets/training_set.jsonl'])\n"
    )
    env = {**os.environ, "AOAI_FT_TOKEN_COUNTER": counter}
    proc = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 1, proc.stderr
    assert f"{counter} is not importable" in proc.stderr
    assert "pip install" in proc.stderr and "AOAI_FT_TOKEN_COUNTER=tiktoken" in proc.stderr
    assert "Traceback" not in proc.stderr + proc.stdout

"""The report as plain data (pipeline.dataset.report_data): the same report, field for field and byte for byte,
as the pydantic models give, and `aoai-ft validate --json` writes it without importing pydantic."""
from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from pipeline.dataset import ReportCache, load_prices, validate_files
from pipeline.dataset.report import ValidationReport
from pipeline.dataset.report_data import to_json
from pipeline.dataset.validate import validation_report_data
from tests.paths import ROOT
from tests.pipeline.dataset.helpers import example, good_lines, write_lines


def _cases(tmp_path: Path, datasets_dir: Path) -> dict[str, tuple[list[Path], dict[str, Any]]]:
    bad = write_lines(tmp_path / "bad.jsonl", [
        *good_lines(12), "not json", b"\xff bad", "[1]", {"x": 1},
        {"messages": [{"role": "bot", "content": "x"}, {"role": "user"}, {"role": "assistant", "content": "", "weight": 2}]},
        example("café <|endoftext|> \u2028 \x1f", "ünïcode \"quoted\" \\ back\tslash", name="bob"),
        '{"messages": [{"role": "user", "content": "\\ud800"}, {"role": "assistant", "content": "ok"}]}',
        {"input": {"messages": [{"role": "user", "content": "q"}]}, "preferred_output": [{"role": "assistant", "content": "a"}],
         "non_preferred_output": [{"role": "assistant", "content": "b"}]},
    ])
    prices = tmp_path / "prices.yaml"
    prices.write_text("source: my rate\nas_of: 2026-01-01\ntraining_per_million:\n  gpt-4o-mini-2024-07-18: 3\n")
    chat = [datasets_dir / "training_set.jsonl", datasets_dir / "validation_set.jsonl"]
    dpo = [datasets_dir / "preference_training_set.jsonl", datasets_dir / "preference_validation_set.jsonl"]
    return {
        "chat": (chat, {}),
        "chat, epochs and a price file": (chat[:1], {"n_epochs": 7, "prices": load_prices(prices)}),
        "errors and warnings": ([bad], {"model": "gpt-35-turbo-0613"}),
        "dpo": (dpo, {"model": "gpt-4o-2024-08-06"}),
        "dpo on a model without it": (dpo[:1], {}),
        "chat as dpo": (chat[:1], {"method": "dpo", "model": "gpt-4o-2024-08-06"}),
        "nothing to train on": ([write_lines(tmp_path / "empty.jsonl", [])], {}),
        "no example counted": ([write_lines(tmp_path / "nope.jsonl", ['{"input": 1}'] * 12)], {"method": "dpo"}),
    }


def test_the_data_is_the_pydantic_report_and_its_json(tmp_path: Path, datasets_dir: Path) -> None:
    for name, (paths, options) in _cases(tmp_path, datasets_dir).items():
        data = validation_report_data(paths, parallel=False, **options)
        report = validate_files(paths, parallel=False, **options)
        assert report.model_dump() == data, name
        assert ValidationReport.model_validate(data) == report, name
        assert to_json(data) == report.model_dump_json(), name


def test_a_cached_file_is_marked_in_the_data_but_not_in_the_json(tmp_path: Path, datasets_dir: Path) -> None:
    path = Path(shutil.copy(datasets_dir / "training_set.jsonl", tmp_path))
    cache = ReportCache(tmp_path / "cache")
    fresh = validation_report_data([path], cache=cache)
    reused = validation_report_data([path], cache=cache)
    assert "from_cache" not in fresh["files"][0] and reused["files"][0].pop("from_cache") is True
    assert reused == fresh
    assert validate_files([path], cache=cache).files[0].from_cache
    reused["files"][0]["from_cache"] = True
    assert to_json(reused) == to_json(fresh) == ValidationReport.model_validate(reused).model_dump_json()


@pytest.mark.parametrize("odd", [{"path": "bad \udcff name"}, {"examples": 2**70}])
def test_what_orjson_cannot_write_is_pydantic_s_to_answer(tmp_path: Path, datasets_dir: Path,
                                                          odd: dict[str, Any]) -> None:
    """A path with a lone surrogate (a file name that is not UTF-8), an integer over 64 bits: the same outcome as
    the pydantic report's model_dump_json, error or text."""
    data = validation_report_data([datasets_dir / "training_set.jsonl"])
    data["files"][0].update(odd)
    try:
        expected: str | type[Exception] = ValidationReport.model_validate(data).model_dump_json()
    except Exception as exc:  # noqa: BLE001 - whatever pydantic raises, to_json raises too
        expected = type(exc)
    if isinstance(expected, str):
        assert to_json(data) == expected
    else:
        with pytest.raises(expected):
            to_json(data)


def test_validate_json_never_imports_pydantic(datasets_dir: Path, generated) -> None:
    """pydantic's import, model building and teardown were a tenth of `aoai-ft validate --json`'s CPU time; a big
    file is scanned by forked workers, a small one in this process: neither imports it."""
    code = (
        "import sys\n"
        "from pipeline.cli import main\n"
        "try:\n"
        "    main(sys.argv[1:])\n"
        "finally:\n"
        "    print(sorted(m for m in ('pydantic', 'rich') if m in sys.modules), file=sys.stderr)\n"
    )
    for path in (datasets_dir / "training_set.jsonl", generated(5000)):
        run = subprocess.run([sys.executable, "-c", code, "validate", str(path), "--json"], cwd=ROOT,
                             capture_output=True, text=True, timeout=120)
        assert run.returncode == 0, run.stderr
        assert run.stderr.strip().splitlines()[-1] == "[]"
        assert json.loads(run.stdout)["ok"] is True

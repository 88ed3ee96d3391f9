"""Every error code on its own file, at the line where the defect is; valid variants stay valid."""
from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from pipeline.dataset import ERROR_CODES, validate_file
from pipeline.dataset import parallel as parallel_module
from pipeline.dataset import validate as validate_module
from tests.pipeline.dataset.helpers import SYSTEM, example, good_lines, seed_counts, write_lines

DEFECT_LINE = 4  # 1-based line of the defect in a file of 11 lines (10 good + 1 bad)

DEFECTS: dict[str, str | bytes | dict] = {
    "invalid_json": '{"messages": [{"role": "user", "content": "hi"}',
    "invalid_encoding": b'{"messages": [{"role": "user", "content": "caf\xe9"}]}',
    "data_type": '["not", "an", "object"]',
    "missing_messages_list": {"msgs": example()["messages"]},
    "message_missing_key": {"messages": [{"content": "no role"}, {"role": "assistant", "content": "ok"}]},
    "message_unrecognized_key": {"messages": [{"role": "user", "content": "hi", "mood": "happy"},
                                              {"role": "assistant", "content": "ok"}]},
    "unrecognized_role": {"messages": [{"role": "robot", "content": "beep"}, {"role": "assistant", "content": "ok"}]},
    "missing_content": {"messages": [{"role": "user", "content": 3}, {"role": "assistant", "content": "ok"}]},
    "example_missing_assistant_message": {"messages": [{"role": "system", "content": SYSTEM},
                                                       {"role": "user", "content": "hi"}]},
    "invalid_weight": example(weight=2),
    "example_too_long": example(answer="word " * 4200),  # > 4,096 tokens of gpt-35-turbo-0613
}


def _file_with(tmp_path: Path, defect) -> Path:
    lines: list = good_lines(10)
    lines.insert(DEFECT_LINE - 1, defect)
    return write_lines(tmp_path / "data.jsonl", lines)


@pytest.mark.parametrize("code", sorted(DEFECTS))
def test_each_defect_is_reported_with_its_code_and_line(tmp_path: Path, code: str) -> None:
    report = validate_file(_file_with(tmp_path, DEFECTS[code]), model="gpt-35-turbo-0613")
    assert not report.ok
    assert [(e.line, e.code) for e in report.errors] == [(DEFECT_LINE, code)], report.errors
    assert report.error_counts == {code: 1}
    assert report.examples == 11
    assert report.errors[0].message  # says what is wrong


def test_every_documented_code_is_exercised() -> None:
    assert set(DEFECTS) | {"too_few_examples", "file_too_large"} == set(ERROR_CODES)


@pytest.mark.parametrize("message, code", [
    ({"role": "user", "content": None}, "missing_content"),
    ({"role": "user", "content": ""}, "missing_content"),
    ({"role": "user", "content": [{"type": "text", "text": "hi"}]}, "missing_content"),
    ({"role": "user"}, "message_missing_key"),
    ({"role": 7, "content": "x"}, "unrecognized_role"),
    ({"role": "user", "content": "x", "weight": 1}, "invalid_weight"),
])
def test_message_level_variants(tmp_path: Path, message: dict, code: str) -> None:
    bad = {"messages": [message, {"role": "assistant", "content": "ok"}]}
    report = validate_file(_file_with(tmp_path, bad))
    assert [(e.line, e.code) for e in report.errors] == [(DEFECT_LINE, code)]


@pytest.mark.parametrize("weight", [True, "1", 0.5, None, -1])
def test_bad_weights(tmp_path: Path, weight) -> None:
    report = validate_file(_file_with(tmp_path, example(weight=weight)))
    assert [(e.line, e.code) for e in report.errors] == [(DEFECT_LINE, "invalid_weight")]


def test_several_problems_on_one_line_are_all_reported(tmp_path: Path) -> None:
    bad = {"messages": [{"role": "robot", "content": 3, "mood": 1}]}
    report = validate_file(_file_with(tmp_path, bad))
    assert sorted(e.code for e in report.errors) == sorted(
        ["unrecognized_role", "missing_content", "message_unrecognized_key", "example_missing_assistant_message"])
    assert {e.line for e in report.errors} == {DEFECT_LINE}


def test_valid_shapes_are_accepted(tmp_path: Path) -> None:
    tool_call = [{"id": "call_1", "type": "function", "function": {"name": "lookup", "arguments": "{\"q\": \"AI\"}"}}]
    lines = good_lines(10) + [
        {"messages": [{"role": "user", "content": "Look up AI"},
                      {"role": "assistant", "content": None, "tool_calls": tool_call},
                      {"role": "tool", "tool_call_id": "call_1", "content": "AI is ..."},
                      {"role": "assistant", "content": "AI is software that learns.", "weight": 1}]},
        {"messages": [{"role": "user", "content": "hi", "name": "alice"},
                      {"role": "assistant", "content": "draft", "weight": 0},
                      {"role": "user", "content": "again"},
                      {"role": "assistant", "content": "final", "weight": 1}]},
        {"messages": [{"role": "user", "content": "call it"},
                      {"role": "assistant", "function_call": {"name": "f", "arguments": "{}"}},
                      {"role": "function", "name": "f", "content": "42"},
                      {"role": "assistant", "content": "It is 42."}]},
    ]
    report = validate_file(write_lines(tmp_path / "ok.jsonl", lines))
    assert report.ok, report.errors
    assert report.examples == 13


def test_name_adds_one_token_like_the_seed(tmp_path: Path) -> None:
    plain = validate_file(write_lines(tmp_path / "a.jsonl", good_lines(10)))
    named = [dict(ex, messages=[dict(m, name="bob") if m["role"] == "user" else m for m in ex["messages"]])
             for ex in good_lines(10)]
    with_name = validate_file(write_lines(tmp_path / "b.jsonl", named))
    one_token = 1 + 1  # "bob" is one token, plus tokens_per_name
    assert with_name.tokens.total.min == plain.tokens.total.min + one_token


def test_too_few_examples_is_file_level(tmp_path: Path) -> None:
    report = validate_file(write_lines(tmp_path / "few.jsonl", good_lines(9)))
    assert [(e.line, e.code) for e in report.errors] == [(None, "too_few_examples")]
    assert report.model_dump()["errors"][0]["line"] is None


def test_empty_file(tmp_path: Path) -> None:
    report = validate_file(write_lines(tmp_path / "empty.jsonl", []))
    assert report.error_counts == {"too_few_examples": 1}
    assert report.tokens.total is None and report.billing.billed_tokens == 0


def test_file_too_large_is_file_level(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = write_lines(tmp_path / "big.jsonl", good_lines(10))
    monkeypatch.setattr(validate_module, "MAX_FILE_BYTES", path.stat().st_size - 1)
    report = validate_file(path)
    assert [(e.line, e.code) for e in report.errors] == [(None, "file_too_large")]


def test_bom_is_accepted_with_a_warning(tmp_path: Path) -> None:
    lines: list = good_lines(10)
    lines[0] = b"\xef\xbb\xbf" + json.dumps(lines[0]).encode()
    report = validate_file(write_lines(tmp_path / "bom.jsonl", lines))
    assert report.ok
    assert [(w.line, w.code) for w in report.warnings] == [(1, "utf8_bom")]
    plain = validate_file(write_lines(tmp_path / "plain.jsonl", good_lines(10)))
    assert report.tokens == plain.tokens


def test_special_token_text_is_counted_and_warned(tmp_path: Path) -> None:
    lines: list = good_lines(10)
    lines[6] = example(answer="The end marker is <|endoftext|> in GPT models.")
    report = validate_file(write_lines(tmp_path / "special.jsonl", lines))
    assert report.ok
    assert [(w.line, w.code) for w in report.warnings] == [(7, "special_token_text")]
    assert "<|endoftext|>" in report.warnings[0].message


def test_lone_surrogate_counts_like_the_seed(tmp_path: Path) -> None:
    lines: list = good_lines(10)
    lines[2] = '{"messages": [{"role": "user", "content": "odd \\ud800 text"}, {"role": "assistant", "content": "ok \\udfff"}]}'
    path = write_lines(tmp_path / "surrogate.jsonl", lines)
    report = validate_file(path)
    assert report.ok
    assert [(w.line, w.code) for w in report.warnings] == [(3, "lone_surrogate")]
    from pipeline.dataset import scan_file
    totals, assistants = seed_counts(path)  # the seed's json + tiktoken accept it
    scan = scan_file(path)
    assert (list(scan.totals), list(scan.assistants)) == (totals, assistants)


def test_blank_lines_are_skipped_and_line_numbers_stay_physical(tmp_path: Path) -> None:
    lines: list = good_lines(10)
    lines[3:3] = ["", "   "]
    lines.insert(8, '{"broken": ')
    report = validate_file(write_lines(tmp_path / "blank.jsonl", lines))
    assert report.examples == 11
    assert [(e.line, e.code) for e in report.errors] == [(9, "invalid_json")]


def test_nan_and_huge_numbers_fall_back_to_the_stdlib_parser(tmp_path: Path) -> None:
    lines: list = good_lines(10)
    lines[1] = '{"messages": [{"role": "user", "content": "x"}, {"role": "assistant", "content": "y", "weight": NaN}], "n": 123456789012345678901234567890}'
    report = validate_file(write_lines(tmp_path / "nan.jsonl", lines))
    assert [(e.line, e.code) for e in report.errors] == [(2, "invalid_weight")]


def test_forked_scan_reports_lines_of_the_second_half(tmp_path: Path) -> None:
    lines: list = good_lines(400)
    lines[10] = '{"bad json'
    lines[350] = {"messages": [{"role": "robot", "content": "x"}, {"role": "assistant", "content": "y"}]}
    path = write_lines(tmp_path / "halves.jsonl", lines)
    serial = validate_file(path, parallel=False)
    forked = validate_file(path, parallel=True)
    assert [(e.line, e.code) for e in forked.errors] == [(11, "invalid_json"), (351, "unrecognized_role")]
    assert forked.model_dump() == serial.model_dump()


def test_no_fork_while_other_threads_run(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import threading

    path = write_lines(tmp_path / "t.jsonl", good_lines(20))
    monkeypatch.setattr(validate_module, "PARALLEL_MIN_BYTES", 1)
    forks: list[int] = []
    real_fork = validate_module.os.fork
    monkeypatch.setattr(validate_module.os, "fork", lambda: forks.append(1) or real_fork())
    with monkeypatch.context() as alone:  # earlier tests may leave daemon threads behind: pretend we are alone
        alone.setattr(validate_module.threading, "active_count", lambda: 1)
        validate_file(path)
    assert forks == [1]
    stop = threading.Event()
    worker = threading.Thread(target=stop.wait)
    worker.start()
    try:
        assert validate_file(path).ok
    finally:
        stop.set()
        worker.join()
    assert forks == [1]


def test_failed_child_falls_back_to_scanning_in_process(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    lines: list = good_lines(200)
    lines[150] = "{oops"
    path = write_lines(tmp_path / "t.jsonl", lines)
    monkeypatch.setattr(parallel_module, "_work", lambda *args: os._exit(3))  # the worker dies before sending
    report = validate_file(path, parallel=True)
    assert [(e.line, e.code) for e in report.errors] == [(151, "invalid_json")]
    assert report.examples == 200

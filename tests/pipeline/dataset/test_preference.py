"""The preference (DPO) format: every error code on its own file at the line of the defect, the valid shapes,
token counts against tiktoken, DPO billing, format detection and a mixed file, and the DPO model check."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from pipeline.dataset import DPO_MODELS, PREFERENCE_ERROR_CODES, validate_file, validate_files
from pipeline.dataset import validate as validate_module
from pipeline.dataset.tokenizer import get_encoding
from tests.pipeline.dataset.helpers import SYSTEM, example, good_lines, write_lines

DEFECT_LINE = 4
DPO_MODEL = "gpt-4.1-mini-2025-04-14"
TOOL = {"type": "function", "function": {"name": "lookup", "parameters": {"type": "object", "properties": {}}}}


def pair(question: str = "What is AI?", good: str = "AI is software that learns from data.",
         worse: str = "Computers, I think.", **parts: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "input": {"messages": [{"role": "system", "content": SYSTEM}, {"role": "user", "content": question}]},
        "preferred_output": [{"role": "assistant", "content": good}],
        "non_preferred_output": [{"role": "assistant", "content": worse}],
    }
    body.update(parts)
    return body


def good_pairs(n: int = 10) -> list[dict[str, Any]]:
    return [pair(f"Question {i} about AI?", f"Answer {i}: AI learns patterns from data.", f"Dunno {i}.")
            for i in range(n)]


def with_input(**changes: Any) -> dict[str, Any]:
    body = pair()
    body["input"] = {**body["input"], **changes}
    return body


ASSISTANT = {"role": "assistant", "content": "ok"}
DEFECTS: dict[str, Any] = {
    "invalid_json": '{"input": {"messages": [], "preferred_output": ',
    "invalid_encoding": b'{"input": {"messages": [{"role": "user", "content": "caf\xe9"}]}, "preferred_output": []}',
    "data_type": '["not", "an", "object"]',
    "missing_input": {k: v for k, v in pair().items() if k != "input"},
    "missing_messages_list": with_input(messages=[]),
    "message_missing_key": with_input(messages=[{"content": "no role"}, {"role": "user", "content": "hi"}]),
    "message_unrecognized_key": with_input(messages=[{"role": "user", "content": "hi", "weight": 1}]),
    "unrecognized_role": with_input(messages=[{"role": "robot", "content": "beep"}, {"role": "user", "content": "hi"}]),
    "missing_content": pair(good=""),
    "input_missing_user_message": with_input(messages=[{"role": "system", "content": SYSTEM}]),
    "input_ends_with_assistant": with_input(messages=[{"role": "user", "content": "hi"}, ASSISTANT]),
    "unrecognized_key": pair(chosen="this is another tool's format"),
    "invalid_tools": with_input(tools={"not": "a list"}),
    "missing_preferred_output": {k: v for k, v in pair().items() if k != "preferred_output"},
    "missing_non_preferred_output": pair(non_preferred_output=[]),
    "output_message_count": pair(preferred_output=[ASSISTANT, {"role": "assistant", "content": "and more"}]),
    "output_role_not_assistant": pair(non_preferred_output=[{"role": "user", "content": "not a reply"}]),
    "identical_outputs": pair(good="Same answer.", worse="Same answer."),
    "example_too_long": pair(good="word " * 4200),  # > 4,096 tokens of gpt-35-turbo-0613
    "format_mismatch": example(),  # a chat line in a preference file, validated as such (--method dpo)
}


def file_with(tmp_path: Path, defect: Any, lines: list | None = None) -> Path:
    lines = list(lines if lines is not None else good_pairs(10))
    lines.insert(DEFECT_LINE - 1, defect)
    return write_lines(tmp_path / "pairs.jsonl", lines)


@pytest.mark.parametrize("code", sorted(DEFECTS))
def test_each_defect_is_reported_with_its_code_and_line(tmp_path: Path, code: str) -> None:
    report = validate_file(file_with(tmp_path, DEFECTS[code]), model="gpt-35-turbo-0613", method="dpo")
    assert report.method == "dpo" and not report.ok
    assert [(e.line, e.code) for e in report.errors] == [(DEFECT_LINE, code)], report.errors
    assert report.error_counts == {code: 1} and report.examples == 11
    assert report.errors[0].message


def test_every_documented_code_is_exercised() -> None:
    file_level = {"too_few_examples", "file_too_large", "mixed_formats", "method_not_supported"}
    assert set(DEFECTS) | file_level == set(PREFERENCE_ERROR_CODES)


def test_valid_shapes_are_accepted(tmp_path: Path) -> None:
    tool_call = {"role": "assistant", "content": None,
                 "tool_calls": [{"id": "c1", "type": "function", "function": {"name": "lookup", "arguments": "{}"}}]}
    lines = good_pairs(10) + [
        pair(**{"input": {"messages": [{"role": "user", "content": "Look it up"}], "tools": [TOOL],
                          "parallel_tool_calls": False}}),
        pair(preferred_output=[tool_call]),
        pair(**{"input": {"messages": [{"role": "user", "content": "hi", "name": "ann"},
                                       {"role": "assistant", "content": "Hello"},
                                       {"role": "user", "content": "What is AI?"}]}}),
    ]
    report = validate_file(write_lines(tmp_path / "ok.jsonl", [*lines, ""]), model=DPO_MODEL)
    assert report.ok and report.method == "dpo" and report.examples == 13, report.errors


def reference_sequence(messages: list[dict[str, Any]], tools: list | None = None) -> int:
    """The chat formula with tiktoken itself: +3 per message, tokens of every string, +1 per name, +3 priming."""
    encoding = get_encoding("o200k_base")
    total = 3
    for message in messages:
        total += 3
        for key, value in message.items():
            if isinstance(value, str):
                total += len(encoding.encode(value))
            if key == "name":
                total += 1
    if tools:
        total += len(encoding.encode(json.dumps(tools, separators=(",", ":"), ensure_ascii=False)))
    return total


def test_token_counts_and_billing_match_tiktoken(tmp_path: Path) -> None:
    lines = good_pairs(11)
    lines[3] = pair(**{"input": {"messages": [{"role": "user", "content": "Look it up", "name": "bo"}],
                                 "tools": [TOOL]}})
    path = write_lines(tmp_path / "pairs.jsonl", lines)
    report = validate_file(path, model=DPO_MODEL, n_epochs=2)
    assert report.ok, report.errors
    encoding = get_encoding("o200k_base")
    sequences, inputs, preferred, non_preferred = [], [], [], []
    for line in lines:
        conversation, tools = line["input"]["messages"], line["input"].get("tools")
        good, worse = line["preferred_output"], line["non_preferred_output"]
        sequences.append(reference_sequence(conversation + good, tools) + reference_sequence(conversation + worse, tools))
        inputs.append(reference_sequence(conversation, tools))
        preferred.append(len(encoding.encode(good[0]["content"])))
        non_preferred.append(len(encoding.encode(worse[0]["content"])))
    tokens = report.tokens
    assert (tokens.total.min, tokens.total.max) == (min(sequences), max(sequences))
    assert tokens.total.mean == pytest.approx(sum(sequences) / len(sequences))
    assert (tokens.input.min, tokens.input.max) == (min(inputs), max(inputs))
    assert (tokens.preferred.min, tokens.preferred.max) == (min(preferred), max(preferred))
    assert (tokens.non_preferred.min, tokens.non_preferred.max) == (min(non_preferred), max(non_preferred))
    assert tokens.assistant is None
    assert report.billing.epochs == 2 and report.billing.billed_tokens == sum(sequences) * 2
    dumped = report.model_dump(mode="json")["tokens"]
    assert set(dumped) == {"total", "input", "preferred", "non_preferred"}


def test_the_format_is_detected_and_a_mixed_file_names_its_lines(tmp_path: Path) -> None:
    pairs_only = write_lines(tmp_path / "pairs.jsonl", good_pairs(10))
    chats_only = write_lines(tmp_path / "chats.jsonl", good_lines(10))
    assert validate_file(pairs_only, model=DPO_MODEL).method == "dpo"
    assert validate_file(chats_only).method == "supervised"

    mixed = write_lines(tmp_path / "mixed.jsonl", good_pairs(8) + good_lines(2) + good_pairs(2))
    report = validate_file(mixed, model=DPO_MODEL)
    assert report.method == "dpo" and not report.ok
    assert [(e.line, e.code) for e in report.errors] == [(None, "mixed_formats"), (9, "format_mismatch"),
                                                          (10, "format_mismatch")]
    assert "line(s) 1-8, 11-12" in report.errors[0].message and "line(s) 9-10" in report.errors[0].message

    mostly_chat = write_lines(tmp_path / "mostly_chat.jsonl", good_lines(10) + [pair()])
    report = validate_file(mostly_chat)
    assert report.method == "supervised"
    assert [(e.line, e.code) for e in report.errors] == [(None, "mixed_formats"), (11, "format_mismatch")]


def test_an_explicit_method_reports_every_line_of_the_other_format(tmp_path: Path) -> None:
    chats = write_lines(tmp_path / "chats.jsonl", good_lines(10))
    as_dpo = validate_file(chats, model=DPO_MODEL, method="dpo")
    assert as_dpo.error_counts == {"format_mismatch": 10}
    pairs = write_lines(tmp_path / "pairs.jsonl", good_pairs(10))
    as_chat = validate_file(pairs, method="supervised")
    assert as_chat.method == "supervised" and as_chat.error_counts == {"format_mismatch": 10}
    assert "the training method asked for" in as_chat.errors[0].message


def test_a_model_azure_does_not_train_with_dpo_is_an_error(tmp_path: Path) -> None:
    pairs = write_lines(tmp_path / "pairs.jsonl", good_pairs(10))
    refused = validate_files([pairs], model="gpt-4o-mini-2024-07-18")
    assert not refused.ok and refused.files[0].errors[0].code == "method_not_supported"
    assert all(model in refused.files[0].errors[0].message for model in DPO_MODELS)
    for model in DPO_MODELS:
        assert validate_files([pairs], model=model).ok
    continued = validate_files([pairs], model=f"{DPO_MODEL}.ft-{'0' * 32}-sft")  # continuing a fine-tuned model
    assert continued.ok and continued.estimate is not None and continued.estimate.model == DPO_MODEL


def test_file_level_problems(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    few = validate_file(write_lines(tmp_path / "few.jsonl", good_pairs(3)), model=DPO_MODEL)
    assert [(e.line, e.code) for e in few.errors] == [(None, "too_few_examples")]
    monkeypatch.setattr(validate_module, "MAX_FILE_BYTES", 100)
    big = validate_file(write_lines(tmp_path / "big.jsonl", good_pairs(10)), model=DPO_MODEL)
    assert [(e.line, e.code) for e in big.errors] == [(None, "file_too_large")]


def test_warnings(tmp_path: Path) -> None:
    path = tmp_path / "warn.jsonl"
    lines = [json.dumps(p) for p in good_pairs(10)]
    lines[2] = json.dumps(pair(good="Say <|endoftext|> now"))
    lines[5] = lines[5].replace("Dunno 5.", "Dunno \\ud800.")
    path.write_bytes(b"\xef\xbb\xbf" + "\n".join(lines).encode() + b"\n")
    report = validate_file(path, model=DPO_MODEL)
    assert report.ok, report.errors
    assert [(w.line, w.code) for w in report.warnings] == [(1, "utf8_bom"), (3, "special_token_text"),
                                                            (6, "lone_surrogate")]


def test_the_sample_preference_datasets_are_valid_and_built_from_the_teacher_data(datasets_dir: Path) -> None:
    report = validate_files([datasets_dir / "preference_training_set.jsonl",
                             datasets_dir / "preference_validation_set.jsonl"], model=DPO_MODEL)
    assert report.ok and all(f.method == "dpo" for f in report.files)
    chats = [json.loads(line) for line in (datasets_dir / "training_set.jsonl").read_text().splitlines()]
    pairs = [json.loads(line) for line in (datasets_dir / "preference_training_set.jsonl").read_text().splitlines()]
    assert len(pairs) == len(chats)
    for chat, preference in zip(chats, pairs):
        assert preference["input"]["messages"] == chat["messages"][:-1]
        assert preference["preferred_output"][0]["content"] == chat["messages"][-1]["content"]
        assert preference["non_preferred_output"][0]["content"] != chat["messages"][-1]["content"]

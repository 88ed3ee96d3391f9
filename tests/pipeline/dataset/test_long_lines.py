"""A line longer than any valid example can be is `example_too_long`, found while streaming: neither
`aoai-ft validate` nor the emulator's file check holds it in memory."""
from __future__ import annotations

import json
import os
import subprocess
import time
from pathlib import Path
from typing import Any, BinaryIO

import openai
import pytest

from pipeline.dataset import validate_file
from pipeline.dataset.checks import max_line_bytes
from pipeline.dataset.models import MODELS
from pipeline.emulator.server import free_port
from tests.pipeline.emulated import wait_until_healthy
from tests.paths import AOAI_FT

ROOT = Path(__file__).resolve().parents[3]
HUGE_LINE_BYTES = 120 * 1024 * 1024
LIMIT = MODELS["gpt-4o-mini-2024-07-18"].token_limit


def write_padded_line(out: BinaryIO, head: bytes, tail: bytes, line_bytes: int) -> None:
    """One line of exactly `line_bytes`: `head`, words, `tail` (which ends it), written in pieces."""
    left = line_bytes - len(head) - len(tail)
    out.write(head)
    chunk = b"word " * (1 << 18)
    while left > 0:
        out.write(chunk[:left])
        left -= len(chunk)
    out.write(tail)


def write_with_huge_line(path: Path, datasets_dir: Path, line_bytes: int) -> Path:
    """The sample training set, then one example whose user message is `line_bytes` long, then one more."""
    sample = (datasets_dir / "training_set.jsonl").read_bytes()
    with open(path, "wb") as out:
        out.write(sample)
        write_padded_line(out, b'{"messages": [{"role": "user", "content": "',
                          b'"}, {"role": "assistant", "content": "ok"}]}\n', line_bytes)
        out.write(sample.splitlines(keepends=True)[0])
    return path


@pytest.fixture(scope="module")
def huge(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("huge") / "huge.jsonl"
    yield write_with_huge_line(path, ROOT / "datasets", HUGE_LINE_BYTES)
    path.unlink()


def peak_rss_mb(argv: list[str]) -> tuple[int, str, float]:
    """Run a command; (exit code, stdout, its peak resident set in MB from wait4's rusage)."""
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    out = proc.stdout.read()  # type: ignore[union-attr]
    _, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    return proc.returncode, out.decode(), usage.ru_maxrss / 1024


def test_the_bound_is_above_any_line_within_the_limit(tmp_path: Path, datasets_dir: Path) -> None:
    """Just under the byte bound, the line is read and counted (its tokens decide); just over, it is skipped."""
    model = "gpt-35-turbo-0613"  # 4,096 tokens: a small bound keeps this file small
    bound = max_line_bytes(MODELS[model].token_limit)
    under = validate_file(write_with_huge_line(tmp_path / "under.jsonl", datasets_dir, bound - 1024), model=model)
    over = validate_file(write_with_huge_line(tmp_path / "over.jsonl", datasets_dir, bound + 1024), model=model)
    (u,) = [p for p in under.errors if p.code == "example_too_long"]
    (o,) = [p for p in over.errors if p.code == "example_too_long"]
    assert "tokens, over the model's limit" in u.message
    assert "longer than any example" in o.message and u.line == o.line
    assert over.examples == under.examples


def test_validate_cli_stays_small_on_a_huge_line(huge: Path, datasets_dir: Path) -> None:
    """The line is measured in dropped 1 MB pieces, never held: it costs no more memory than the small sample
    alone, far less than the ~51 MB byte bound that holding the line up to the bound would cost."""
    code, _, baseline = peak_rss_mb([str(AOAI_FT), "validate", str(datasets_dir / "training_set.jsonl")])
    assert code == 0
    code, out, peak = peak_rss_mb([str(AOAI_FT), "validate", "--json", str(huge)])
    assert code == 1 and "example_too_long" in out and "longer than any example" in out
    sample_lines = (datasets_dir / "training_set.jsonl").read_bytes().count(b"\n")
    assert f'"line":{sample_lines + 1},"code":"example_too_long"' in out
    assert max_line_bytes(LIMIT) / 2**20 > 45
    assert peak < baseline + 12, f"validate peaked at {peak:.0f} MB (the sample file alone: {baseline:.0f} MB)"


def _checked(sdk: openai.AzureOpenAI, path: Path) -> Any:
    with open(path, "rb") as fh:
        file = sdk.files.create(file=(path.name, fh), purpose="fine-tune")
    deadline = time.monotonic() + 120
    while file.status not in ("processed", "error"):
        assert time.monotonic() < deadline, file
        time.sleep(0.2)
        file = sdk.files.retrieve(file.id)
    return file


def test_emulator_file_check_stays_small_on_a_huge_line(tmp_path: Path, huge: Path, datasets_dir: Path) -> None:
    port = free_port()
    proc = subprocess.Popen([str(AOAI_FT), "emulator", "--port", str(port), "--api-key", "k", "--quiet",
                             "--data-dir", str(tmp_path / "state")],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_until_healthy(proc, f"http://127.0.0.1:{port}", timeout=30)
        sdk = openai.AzureOpenAI(azure_endpoint=f"http://127.0.0.1:{port}", api_key="k", api_version="2024-10-21",
                                 timeout=120)
        assert _checked(sdk, datasets_dir / "training_set.jsonl").status == "processed"  # tokenizer now loaded
        baseline = _hwm_mb(proc.pid)
        checked = _checked(sdk, huge)
        assert checked.status == "error" and "example_too_long" in (checked.status_details or "")
        peak = _hwm_mb(proc.pid)
        # At most one line's worth (the byte bound, ~51 MB for this model) is read before it is known to be too long.
        allowed = max_line_bytes(LIMIT) / 2**20 + 30
        assert peak < baseline + allowed, f"the emulator peaked at {peak:.0f} MB (from {baseline:.0f} MB)"
    finally:
        proc.kill()
        proc.wait(timeout=10)


def _hwm_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    raise AssertionError("no VmHWM")


def write_pairs_with_huge_first_line(path: Path, datasets_dir: Path, line_bytes: int) -> Path:
    """A preference file whose first pair's question is `line_bytes` long, then the sample pairs."""
    with open(path, "wb") as out:
        write_padded_line(out, b'{"input": {"messages": [{"role": "user", "content": "',
                          b'"}]}, "preferred_output": [{"role": "assistant", "content": "a"}], '
                          b'"non_preferred_output": [{"role": "assistant", "content": "b"}]}\n', line_bytes)
        out.write((datasets_dir / "preference_training_set.jsonl").read_bytes())
    return path


def test_a_preference_file_with_a_huge_first_line_is_recognised_and_stays_small(tmp_path: Path,
                                                                                datasets_dir: Path) -> None:
    """The format is told from the line's first bytes, and the line is measured, not held."""
    model = "gpt-4o-2024-08-06"
    code, _, baseline = peak_rss_mb([str(AOAI_FT), "validate", "--model", model,
                                     str(datasets_dir / "preference_training_set.jsonl")])
    assert code == 0
    huge_pairs = write_pairs_with_huge_first_line(tmp_path / "pairs.jsonl", datasets_dir, HUGE_LINE_BYTES)
    code, out, peak = peak_rss_mb([str(AOAI_FT), "validate", "--json", "--model", model, str(huge_pairs)])
    assert code == 1
    (problem,) = [p for p in json.loads(out)["files"][0]["errors"]]
    assert (problem["line"], problem["code"]) == (1, "example_too_long") and "longer than any example" in problem["message"]
    bound = max_line_bytes(MODELS[model].token_limit) / 2**20
    assert peak < baseline + bound + 30, f"validate peaked at {peak:.0f} MB (baseline {baseline:.0f} MB)"

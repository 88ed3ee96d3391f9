"""One output rule for every command: off a terminal, tables get `$COLUMNS` or a wide fixed width, and text lines
(paths, URLs, keys) are never broken - in-process under click's CliRunner and as a subprocess writing to a pipe."""
from __future__ import annotations

import os
import shutil
import signal
import subprocess
from pathlib import Path

import pytest
from click.testing import CliRunner

from pipeline.cli import cli
from pipeline.commands._options import WIDE_COLUMNS, console
from pipeline.emulator.server import free_port
from tests import loopback
from tests.pipeline.emulated import default_sigint, reaped, wait_until_healthy
from tests.paths import AOAI_FT

ROOT = Path(__file__).resolve().parents[3]
TRAINING = ROOT / "datasets" / "training_set.jsonl"
LONG_KEY = "k" * 40 + "-" + "0123456789abcdef" * 4  # longer than any 80-column line could hold with its label


def long_path(tmp_path: Path) -> Path:
    """A copy of the training set under a directory path of well over 80 characters."""
    folder = tmp_path / ("a-rather-long-folder-name-" * 3) / "and-another-level-of-folders"
    folder.mkdir(parents=True)
    target = folder / "training_set_with_a_long_name.jsonl"
    shutil.copyfile(TRAINING, target)
    assert len(str(target)) > 120
    return target


def plain_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k != "COLUMNS"}
    return {**env, **extra}


def whole_line_with(text: str, output: str) -> str:
    """The one output line that holds `text` whole (fails when it was broken across lines)."""
    lines = [line for line in output.splitlines() if text in line]
    assert lines, f"{text!r} is not on any single line of:\n{output}"
    return lines[0]


@pytest.mark.parametrize("command", ["validate", "estimate"])
def test_a_long_path_stays_on_one_line_under_clirunner(command: str, tmp_path: Path,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("COLUMNS", raising=False)
    path = long_path(tmp_path)
    result = CliRunner().invoke(cli, [command, str(path)])
    assert result.exit_code == 0, result.output
    line = whole_line_with(f"{path}: ", result.output) if command == "estimate" else whole_line_with(str(path), result.output)
    assert "examples" in line or "Estimated" in line


def test_text_is_not_broken_even_at_a_narrow_columns(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COLUMNS", "60")
    path = long_path(tmp_path)
    result = CliRunner().invoke(cli, ["validate", str(path)])
    assert result.exit_code == 0, result.output
    assert "examples" in whole_line_with(f"{path}", result.output)
    table_lines = [line for line in result.output.splitlines() if line.startswith(("┏", "┃", "└", "┡", "│"))]
    assert table_lines and max(len(line) for line in table_lines) <= 60  # tables follow $COLUMNS


def test_a_long_path_stays_on_one_line_in_a_pipe(tmp_path: Path) -> None:
    path = long_path(tmp_path)
    proc = subprocess.run([str(AOAI_FT), "validate", str(path)], capture_output=True, text=True, timeout=120,
                          env=plain_env(), cwd=ROOT)
    assert proc.returncode == 0, proc.stderr
    assert f"{path}: " in whole_line_with(str(path), proc.stdout)


def test_the_factory_rule(monkeypatch: pytest.MonkeyPatch) -> None:
    """Off a terminal: $COLUMNS when set, else the wide fixed width; soft wrap always; stdout or stderr."""
    monkeypatch.delenv("COLUMNS", raising=False)
    assert console().width == WIDE_COLUMNS and console(stderr=True).width == WIDE_COLUMNS
    assert console().soft_wrap and console(stderr=True).stderr and not console().stderr
    monkeypatch.setenv("COLUMNS", "100")
    assert console().width == 100
    monkeypatch.setenv("COLUMNS", "not-a-number")
    assert console().width == WIDE_COLUMNS


def test_emulator_key_and_request_paths_stay_whole_in_a_pipe(tmp_path: Path) -> None:
    port = free_port()
    proc = subprocess.Popen([str(AOAI_FT), "emulator", "--port", str(port), "--api-key", LONG_KEY],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=plain_env(),
                            preexec_fn=default_sigint)
    url = f"http://127.0.0.1:{port}"
    missing = "/openai/fine_tuning/jobs/ftjob-" + "0123456789abcdef" * 4 + "/checkpoints"
    with reaped(proc):
        wait_until_healthy(proc, url, timeout=20)
        assert loopback.get(f"{url}{missing}?api-version=2024-10-21", headers={"api-key": LONG_KEY}).status_code == 404
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=15)
    assert whole_line_with(LONG_KEY, out).startswith("export AZURE_OPENAI_API_KEY=")  # the settings block, stdout
    whole_line_with(f"GET {missing}", err)  # the request log, stderr

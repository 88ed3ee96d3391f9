"""The warm `aoai-ft` launcher the CLI tests use behaves as the installed console script does: same output, exit
status, stdin, descriptors, directory and environment; signals reach the command; a killed launcher takes its
command with it."""
from __future__ import annotations

import os
import signal
import socket
import subprocess
import time
from pathlib import Path

import pytest

from tests.paths import AOAI_FT
from tests.warm_cli import warm_aoai_ft

ROOT = Path(__file__).resolve().parent.parent
TRAINING = ROOT / "datasets" / "training_set.jsonl"


def both(argv: list[str], **kwargs: object) -> tuple[subprocess.CompletedProcess[str], subprocess.CompletedProcess[str]]:
    """`aoai-ft ARGV` through the installed script, then through the warm launcher."""
    env = {"PATH": os.environ["PATH"], "HOME": str(ROOT), "LANG": "C.UTF-8", "COLUMNS": "120"}
    runs = [subprocess.run([str(exe), *argv], capture_output=True, text=True, timeout=60, cwd=ROOT, env=env,
                           **kwargs)  # type: ignore[call-overload]
            for exe in (AOAI_FT, warm_aoai_ft())]
    return runs[0], runs[1]


@pytest.mark.parametrize("argv, stdin", [
    (["--help"], None),
    (["validate", "datasets/training_set.jsonl", "--json"], None),
    (["validate", "/dev/stdin"], TRAINING.read_text() + "not json\n"),
    (["env", "--from-json", "-"], ""),
    (["status", "--endpoint", "http://127.0.0.1:9", "--max-retries", "0"], None),
    (["nonsense"], None),
])
def test_same_output_and_status_as_the_installed_script(argv: list[str], stdin: str | None) -> None:
    installed, warm = both(argv, input=stdin)
    assert (warm.returncode, warm.stdout, warm.stderr) == (installed.returncode, installed.stdout, installed.stderr)


def test_process_substitution_and_working_directory(tmp_path: Path) -> None:
    (tmp_path / "d").mkdir()
    (tmp_path / "d" / "t.jsonl").write_bytes(TRAINING.read_bytes())
    proc = subprocess.run(["bash", "-c", f'cd "{tmp_path}/d" && "{warm_aoai_ft()}" validate t.jsonl <(cat t.jsonl)'],
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert "t.jsonl: 57 examples, valid" in proc.stdout and "/dev/fd/" in proc.stdout


def _emulator(exe: Path, port: int, *extra: str) -> subprocess.Popen[str]:
    proc = subprocess.Popen([str(exe), "emulator", "--port", str(port), "--api-key", "k", "--quiet", *extra],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=ROOT)
    assert proc.stdout is not None
    for line in proc.stdout:
        if line.startswith("export AZURE_OPENAI_RESOURCE_NAME="):
            return proc
    raise AssertionError(proc.stderr.read() if proc.stderr else "no exports")


def _accepting(port: int) -> bool:
    with socket.socket() as probe:
        return probe.connect_ex(("127.0.0.1", port)) == 0


def test_sigint_reaches_the_command_and_its_status_comes_back() -> None:
    from pipeline.emulator.server import free_port

    statuses = []
    for exe in (AOAI_FT, warm_aoai_ft()):
        port = free_port()
        proc = _emulator(exe, port)
        try:
            proc.send_signal(signal.SIGINT)
            statuses.append(proc.wait(timeout=20))
        finally:
            proc.kill()  # a failed check leaves no emulator running
            proc.wait()
        assert not _accepting(port)
    assert statuses[0] == statuses[1]


def test_a_killed_launcher_takes_its_command_with_it(tmp_path: Path) -> None:
    from pipeline.emulator.server import free_port

    port = free_port()
    # killed, the emulator cannot remove an in-memory instance's temp dir: its state goes to tmp_path instead
    proc = _emulator(warm_aoai_ft(), port, "--data-dir", str(tmp_path / "state"))
    assert _accepting(port)
    proc.kill()
    proc.wait(timeout=10)
    deadline = time.monotonic() + 10
    while _accepting(port) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not _accepting(port)

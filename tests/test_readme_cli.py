"""README's "Step by step with the CLI", run line by line in bash against `aoai-ft emulator`, with nothing but the
export lines the emulator prints: every step must exit 0. The commands that wait ask every 0.1 s instead of their
default 2-5 s (the emulator's jobs take seconds, not hours); the lines themselves run as written."""
from __future__ import annotations

import os
import queue
import re
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
STACK_ONLY = 'eval "$(aoai-ft env --show-secrets)"'
"""Step 0's stack path: offline, the emulator's export lines replace it (as the README says)."""
QUICK_POLLS = """aoai-ft() {
  case "$1" in
    upload|train) command aoai-ft "$@" --poll-interval 0.1 ;;
    eval) command aoai-ft "$@" --poll 0.1 ;;
    *) command aoai-ft "$@" ;;
  esac
}"""
"""A shell function in front of the installed `aoai-ft`: the README's lines unchanged, only polled faster."""


def readme_steps() -> list[str]:
    section = (ROOT / "README.md").read_text(encoding="utf-8").split("## Step by step with the CLI", 1)[1]
    block = re.search(r"```bash\n(.*?)```", section, re.S)
    assert block is not None, "the section has no bash block"
    lines = [line for line in block.group(1).splitlines() if line.strip() and not line.lstrip().startswith("#")]
    assert STACK_ONLY in lines
    return [line for line in lines if line != STACK_ONLY]


def emulator_exports(process: subprocess.Popen[str], timeout: float = 60) -> list[str]:
    """The `export` lines `aoai-ft emulator` prints on stdout once it is ready."""
    assert process.stdout is not None
    lines: queue.Queue[str] = queue.Queue()
    threading.Thread(target=lambda: [lines.put(line.rstrip("\n")) for line in process.stdout], daemon=True).start()
    exports: list[str] = []
    deadline = time.monotonic() + timeout
    while not any(line.startswith("export AZURE_OPENAI_RESOURCE_NAME=") for line in exports):
        try:
            line = lines.get(timeout=max(deadline - time.monotonic(), 0.01))
        except queue.Empty:
            raise AssertionError(f"no complete export block after {timeout:g} s; got {exports}") from None
        if line.startswith("export "):
            exports.append(line)
    return exports


def test_the_readme_cli_section_runs_verbatim_against_the_emulator(tmp_path: Path) -> None:
    (tmp_path / "datasets").symlink_to(ROOT / "datasets", target_is_directory=True)
    env = {key: value for key, value in os.environ.items() if not key.startswith(("AZURE_", "OPENAI_", "ARM_"))}
    env.update(PATH=f"{BIN}{os.pathsep}{env.get('PATH', '')}", COLUMNS="200", HOME=str(tmp_path))
    emulator = subprocess.Popen([str(BIN / "aoai-ft"), "emulator", "--port", "0", "--training-seconds", "1", "--quiet"],
                                cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                start_new_session=True)
    try:
        exports = emulator_exports(emulator)
        assert {line.split("=", 1)[0].removeprefix("export ") for line in exports} >= {
            "AZURE_OPENAI_ENDPOINT", "AZURE_OPENAI_API_KEY", "AZURE_RESOURCE_MANAGER_ENDPOINT",
            "AZURE_RESOURCE_MANAGER_TOKEN", "AZURE_SUBSCRIPTION_ID", "AZURE_RESOURCE_GROUP", "AZURE_OPENAI_RESOURCE_NAME"}
        steps = readme_steps()
        script = ["set -uo pipefail", QUICK_POLLS, *exports]
        for number, line in enumerate(steps):
            # each step in turn; the first failure stops the script and names itself
            script += [line, f'status=$?; if [ $status -ne 0 ]; then echo "STEP {number} FAILED ($status): {line!r}" >&2; exit 1; fi']
        result = subprocess.run(["bash", "-c", "\n".join(script)], cwd=tmp_path, env=env, stdin=subprocess.DEVNULL,
                                capture_output=True, text=True, timeout=600)
        assert result.returncode == 0, f"{result.stderr[-4000:]}\n--- stdout ---\n{result.stdout[-4000:]}"
        assert (tmp_path / "eval.png").stat().st_size > 0 and (tmp_path / "answers.jsonl").read_text().strip()
        assert any((tmp_path / "report").iterdir())
        assert "succeeded" in result.stderr  # train's progress went to stderr; its stdout was the exports
    finally:
        os.killpg(emulator.pid, signal.SIGINT)
        try:
            emulator.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(emulator.pid, signal.SIGKILL)

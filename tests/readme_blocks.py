"""Running a README bash block line by line against `aoai-ft emulator`, as a reader would paste it: the
emulator's export lines first, then each step, the first failing step naming itself. The commands that wait poll
faster (QUICK_POLLS); the lines themselves run as written."""
from __future__ import annotations

import os
import queue
import re
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from tests.warm_cli import warm_aoai_ft

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
QUICK_POLLS = """aoai-ft() {
  case "$1" in
    upload|train) command aoai-ft "$@" --poll-interval 0.1 ;;
    eval) command aoai-ft "$@" --poll 0.1 ;;
    *) command aoai-ft "$@" ;;
  esac
}"""
"""A shell function in front of the `aoai-ft` on PATH: the README's lines run unchanged, only polled every 0.1 s
instead of their default 2-5 s (the emulator's jobs take seconds, not hours)."""


def bash_block(heading: str) -> list[str]:
    """The commands of the first ```bash block after `heading` in README.md (no blank or comment lines)."""
    section = (ROOT / "README.md").read_text(encoding="utf-8").split(heading, 1)[1]
    block = re.search(r"```bash\n(.*?)```", section, re.S)
    assert block is not None, f"the section {heading!r} has no bash block"
    return [line for line in block.group(1).splitlines() if line.strip() and not line.lstrip().startswith("#")]


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


@dataclass
class Reader:
    """A reader's shell in a fresh folder (with the project's datasets/), and the emulator they started."""

    cwd: Path
    env: dict[str, str]
    exports: list[str]

    def run(self, steps: list[str], *, extra: list[str] = ()) -> subprocess.CompletedProcess[str]:
        script = ["set -uo pipefail", QUICK_POLLS, *self.exports]
        for number, line in enumerate(steps):
            script += [line, f'status=$?; if [ $status -ne 0 ]; then echo "STEP {number} FAILED ($status): {line!r}" >&2; exit 1; fi']
        return subprocess.run(["bash", "-c", "\n".join([*script, *extra])], cwd=self.cwd, env=self.env,
                              stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=600)


@contextmanager
def reader_with_emulator(tmp_path: Path, *, training_seconds: float) -> Iterator[Reader]:
    (tmp_path / "datasets").symlink_to(ROOT / "datasets", target_is_directory=True)
    env = {key: value for key, value in os.environ.items() if not key.startswith(("AZURE_", "OPENAI_", "ARM_"))}
    # the reader's `aoai-ft` commands, and the emulator, go through the warm launcher (the same CLI, each in its
    # own process, without the import cost)
    aoai_ft = warm_aoai_ft()
    env.update(PATH=os.pathsep.join([str(aoai_ft.parent), str(BIN), env.get("PATH", "")]), COLUMNS="200",
               HOME=str(tmp_path))
    # a quick clock (as the README suggests for a quick run): files, deployments and eval runs take a tenth of a
    # second to a few tenths instead of 0.5-2 s
    emulator = subprocess.Popen([str(aoai_ft), "emulator", "--port", "0", "--training-seconds",
                                 f"{training_seconds:g}", "--file-processing-seconds", "0.1", "--deployment-seconds",
                                 "0.1", "--eval-run-seconds", "0.3", "--quiet"], cwd=tmp_path, env=env,
                                stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True, start_new_session=True)
    try:
        yield Reader(tmp_path, env, emulator_exports(emulator))
    finally:
        os.killpg(emulator.pid, signal.SIGINT)
        try:
            emulator.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(emulator.pid, signal.SIGKILL)

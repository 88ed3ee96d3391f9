"""README's "Training methods" block, run line by line in bash against `aoai-ft emulator` (validate and estimate
preference pairs, DPO from a base model, supervised then DPO on top of it, the DPO report): every step exits 0."""
from __future__ import annotations

import json
import os
import re
import signal
import subprocess
from pathlib import Path

from tests.test_readme_cli import BIN, ROOT, emulator_exports

SECTION = "## Training methods: preference fine-tuning (DPO) and continuing a fine-tuned model"


def section_steps() -> list[str]:
    section = (ROOT / "README.md").read_text(encoding="utf-8").split(SECTION, 1)[1]
    block = re.search(r"```bash\n(.*?)```", section, re.S)
    assert block is not None, "the section has no bash block"
    return [line for line in block.group(1).splitlines() if line.strip() and not line.lstrip().startswith("#")]


def test_the_training_methods_block_runs_verbatim_against_the_emulator(tmp_path: Path) -> None:
    (tmp_path / "datasets").symlink_to(ROOT / "datasets", target_is_directory=True)
    env = {key: value for key, value in os.environ.items() if not key.startswith(("AZURE_", "OPENAI_", "ARM_"))}
    env.update(PATH=f"{BIN}{os.pathsep}{env.get('PATH', '')}", COLUMNS="200", HOME=str(tmp_path))
    emulator = subprocess.Popen([str(BIN / "aoai-ft"), "emulator", "--port", "0", "--training-seconds", "2", "--quiet"],
                                cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                start_new_session=True)
    try:
        script = ["set -uo pipefail", *emulator_exports(emulator)]
        for number, line in enumerate(section_steps()):
            script += [line, f'status=$?; if [ $status -ne 0 ]; then echo "STEP {number} FAILED ($status): {line!r}" >&2; exit 1; fi']
        script.append('echo "JOB=$FINE_TUNING_JOB_ID MODEL=$FINE_TUNED_MODEL"')
        result = subprocess.run(["bash", "-c", "\n".join(script)], cwd=tmp_path, env=env, stdin=subprocess.DEVNULL,
                                capture_output=True, text=True, timeout=600)
        assert result.returncode == 0, f"{result.stderr[-4000:]}\n--- stdout ---\n{result.stdout[-4000:]}"
        assert "preference pairs, DPO" in result.stdout and "OK:" in result.stdout
        final = json.loads((tmp_path / "report-dpo" / "metrics.json").read_text())["final"]
        assert final["train_reward_accuracy"] > 0.5 and final["valid_reward_margin"] is not None
        assert result.stdout.count("started job") + result.stderr.count("started job") == 3  # none adopted
    finally:
        os.killpg(emulator.pid, signal.SIGINT)
        try:
            emulator.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(emulator.pid, signal.SIGKILL)

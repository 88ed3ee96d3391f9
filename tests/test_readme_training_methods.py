"""README's "Training methods" block, run line by line in bash against `aoai-ft emulator` (validate and estimate
preference pairs, DPO from a base model, supervised then DPO on top of it, the DPO report): every step exits 0."""
from __future__ import annotations

import json
from pathlib import Path

from tests.readme_blocks import bash_block, reader_with_emulator

SECTION = "## Training methods: preference fine-tuning (DPO) and continuing a fine-tuned model"


def test_the_training_methods_block_runs_verbatim_against_the_emulator(tmp_path: Path) -> None:
    with reader_with_emulator(tmp_path, training_seconds=1) as reader:
        result = reader.run(bash_block(SECTION), extra=['echo "JOB=$FINE_TUNING_JOB_ID MODEL=$FINE_TUNED_MODEL"'])
    assert result.returncode == 0, f"{result.stderr[-4000:]}\n--- stdout ---\n{result.stdout[-4000:]}"
    assert "preference pairs, DPO" in result.stdout and "OK:" in result.stdout
    final = json.loads((tmp_path / "report-dpo" / "metrics.json").read_text())["final"]
    assert final["train_reward_accuracy"] > 0.5 and final["valid_reward_margin"] is not None
    assert result.stdout.count("started job") + result.stderr.count("started job") == 3  # none adopted

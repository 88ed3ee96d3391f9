"""README's "Step by step with the CLI", run line by line in bash against `aoai-ft emulator`, with nothing but the
export lines the emulator prints: every step must exit 0."""
from __future__ import annotations

from pathlib import Path

from tests.readme_blocks import bash_block, reader_with_emulator

STACK_ONLY = 'eval "$(aoai-ft env --show-secrets)"'
"""Step 0's stack path: offline, the emulator's export lines replace it (as the README says)."""


def readme_steps() -> list[str]:
    lines = bash_block("## Step by step with the CLI")
    assert STACK_ONLY in lines
    return [line for line in lines if line != STACK_ONLY]


def test_the_readme_cli_section_runs_verbatim_against_the_emulator(tmp_path: Path) -> None:
    with reader_with_emulator(tmp_path, training_seconds=1) as reader:
        assert {line.split("=", 1)[0].removeprefix("export ") for line in reader.exports} >= {
            "AZURE_OPENAI_ENDPOINT", "AZURE_OPENAI_API_KEY", "AZURE_RESOURCE_MANAGER_ENDPOINT",
            "AZURE_RESOURCE_MANAGER_TOKEN", "AZURE_SUBSCRIPTION_ID", "AZURE_RESOURCE_GROUP", "AZURE_OPENAI_RESOURCE_NAME"}
        result = reader.run(readme_steps())
    assert result.returncode == 0, f"{result.stderr[-4000:]}\n--- stdout ---\n{result.stdout[-4000:]}"
    assert (tmp_path / "eval.png").stat().st_size > 0 and (tmp_path / "answers.jsonl").read_text().strip()
    assert any((tmp_path / "report").iterdir())
    assert "succeeded" in result.stderr  # train's progress went to stderr; its stdout was the exports

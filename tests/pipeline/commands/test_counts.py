"""Every token and count figure the CLI prints has thousands separators: "11,865", never "11865"."""
from __future__ import annotations

import io
import re
from pathlib import Path

from click.testing import CliRunner
from rich.console import Console

from pipeline.cli import cli
from pipeline.finetune import FineTuneRequest, ensure_fine_tuned_model
from tests.pipeline.emulated import invoke

# 4+ digits standing alone: not part of an id, a date, a time, a version, a decimal or an already-grouped figure
BARE = re.compile(r"(?<![\w.:/\-,$])\d{4,}(?![\w.:/\-,])")


def bare_numbers(output: str) -> list[str]:
    return BARE.findall(output)


def test_the_pattern_finds_bare_figures_only() -> None:
    assert bare_numbers("trained tokens │ 11865 │ and 1200 error(s)") == ["11865", "1200"]
    assert bare_numbers("11,865 tokens, ftjob-1234abcd, 2025-06-01 12:00:00, $1234.50, file-12345, v1.2345") == []


def test_status_and_report_of_a_finished_job(fast_emulator, client, datasets_dir, tmp_path: Path) -> None:
    result = ensure_fine_tuned_model(client, FineTuneRequest(training_path=datasets_dir / "training_set.jsonl"),
                                     timeout=60, poll_interval=0.1)
    job = client.fine_tuning.jobs.retrieve(result.job_id)
    assert job.trained_tokens and job.trained_tokens >= 1000
    shown = invoke(fast_emulator, ["status", result.job_id])
    assert shown.exit_code == 0, shown.output
    assert f"{job.trained_tokens:,}" in shown.output
    reported = invoke(fast_emulator, ["report", result.job_id, "--out", str(tmp_path / "report")])
    assert reported.exit_code == 0, reported.output
    not_a_count = re.compile(r"^.*\bseed\b.*$", re.MULTILINE)  # the seed is an identifier, shown as it is
    assert re.search(rf"\bseed\b.*\b{job.seed}\b", shown.output)
    for output in (not_a_count.sub("", shown.output), reported.output,
                   (tmp_path / "report" / "report.md").read_text()):
        assert bare_numbers(output) == [], output


def test_validate_counts_of_a_big_bad_file(tmp_path: Path) -> None:
    bad = tmp_path / "bad.jsonl"
    bad.write_text("not json\n" * 1200, encoding="utf-8")
    shown = CliRunner().invoke(cli, ["validate", str(bad)])
    assert shown.exit_code == 1
    assert f"{bad}: 1,200 examples, 1,200 error(s)" in shown.output
    assert bare_numbers(shown.output) == [], shown.output
    estimated = CliRunner().invoke(cli, ["validate", "datasets/training_set.jsonl"])
    assert bare_numbers(estimated.output) == [] and "11,865" in estimated.output


def test_training_progress_lines() -> None:
    from pipeline.jobs import JobProgress
    from pipeline.progress import JobProgressDisplay

    screen = io.StringIO()
    with JobProgressDisplay(Console(file=screen, width=200)) as show:
        show(JobProgress(job_id="ftjob-abc", status="running", step=1200, total_steps=3000, train_loss=0.5))
    assert "step 1,200/3,000" in screen.getvalue()
    assert bare_numbers(screen.getvalue()) == []


def test_eval_report_counts() -> None:
    from pipeline.evals.report import print_report
    from pipeline.evals.runner import DeploymentResult, EvalReport

    result = DeploymentResult(deployment="ft", run_id="evalrun_1", status="completed", adopted=False, total=1500,
                              passed=1234, failed=200, errored=1066, per_criterion={"fuzzy_match": 0.8})
    report = EvalReport(eval_id="eval_1", eval_name="held-out", dataset="v.jsonl", criteria=("fuzzy_match",),
                        results=(result,))
    screen = io.StringIO()
    print_report(report, Console(file=screen, width=200))
    assert "1,234 / 1,500" in screen.getvalue() and "1,066" in screen.getvalue()
    assert bare_numbers(screen.getvalue()) == []

"""`aoai-ft report`: a real PNG, final metrics, and base vs fine-tuned answers on the validation questions."""
from __future__ import annotations

import json
import struct

from pipeline.arm import StaticTokenCredential, management_client
from pipeline.deploy import DeploymentSpec, deploy_model
from pipeline.finetune import FineTuneRequest, ensure_fine_tuned_model
from pipeline.report import validation_questions
from tests.pipeline.emulated import emulator_env, invoke, run_main


def _deploy(emu, name: str, model: str, version: str) -> None:
    arm = management_client(emu.config.subscription_id, endpoint=emu.url, credential=StaticTokenCredential("t"),
                            polling_interval=0.1)
    deploy_model(arm, DeploymentSpec(subscription_id=emu.config.subscription_id,
                                     resource_group=emu.config.default_resource_group,
                                     account_name=emu.config.default_account, deployment_name=name, model=model,
                                     model_version=version), timeout=30, retry_delay=0.1)


def test_report_with_side_by_side(fast_emulator, client, datasets_dir, tmp_path) -> None:
    validation = datasets_dir / "validation_set.jsonl"
    result = ensure_fine_tuned_model(client, FineTuneRequest(training_path=datasets_dir / "training_set.jsonl",
                                                             validation_path=validation), timeout=60, poll_interval=0.1)
    _deploy(fast_emulator, "base", "gpt-4o-mini", "2024-07-18")
    _deploy(fast_emulator, "teacher", result.fine_tuned_model, "1")
    out = tmp_path / "report"
    shown = invoke(fast_emulator, ["report", result.job_id, "--out", str(out), "--base-deployment", "base",
                                   "--ft-deployment", "teacher", "--validation-file", str(validation),
                                   "--questions", "3"])
    assert shown.exit_code == 0, shown.output
    png = (out / "loss.png").read_bytes()
    assert png[:8] == b"\x89PNG\r\n\x1a\n" and struct.unpack(">II", png[16:24]) == (800, 450) and len(png) > 10_000
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["fine_tuned_model"] == result.fine_tuned_model
    assert metrics["final"]["train_loss"] > 0 and metrics["final"]["valid_loss"] > 0
    assert len(metrics["rows"]) == metrics["final"]["steps"]
    pairs = metrics["comparisons"]
    assert [p["question"] for p in pairs] == validation_questions(validation, limit=3)
    assert all(p["base"] and p["fine_tuned"] for p in pairs) and any(p["base"] != p["fine_tuned"] for p in pairs)
    assert "train_loss" in shown.output and "base vs fine-tuned" in shown.output


def test_report_without_deployments_and_usage_errors(fast_emulator, client, datasets_dir, tmp_path) -> None:
    result = ensure_fine_tuned_model(client, FineTuneRequest(training_path=datasets_dir / "training_set.jsonl"),
                                     timeout=60, poll_interval=0.1)
    shown = invoke(fast_emulator, ["report", result.job_id, "--out", str(tmp_path)])
    assert shown.exit_code == 0, shown.output
    assert (tmp_path / "loss.png").stat().st_size > 5_000 and "## Base vs fine-tuned" not in (tmp_path / "report.md").read_text()
    half = invoke(fast_emulator, ["report", result.job_id, "--base-deployment", "base"])
    assert half.exit_code == 2 and half.output.count("Error: ") == 1


def test_report_of_a_dpo_job_plots_its_preference_metrics(fast_emulator, client, datasets_dir, tmp_path) -> None:
    """A DPO job trained through the pipeline: the PNG gets a second panel (reward accuracy and margin), the
    metrics and the table the DPO figures, and the preference validation file gives the questions."""
    validation = datasets_dir / "preference_validation_set.jsonl"
    result = ensure_fine_tuned_model(client, FineTuneRequest(
        training_path=datasets_dir / "preference_training_set.jsonl", validation_path=validation,
        model="gpt-4.1-mini-2025-04-14", method="dpo", beta=0.1), timeout=60, poll_interval=0.1)
    out = tmp_path / "report"
    shown = invoke(fast_emulator, ["report", result.job_id, "--out", str(out), "--validation-file", str(validation)])
    assert shown.exit_code == 0, shown.output
    png = (out / "loss.png").read_bytes()
    assert png[:8] == b"\x89PNG\r\n\x1a\n" and struct.unpack(">II", png[16:24]) == (800, 800)
    final = json.loads((out / "metrics.json").read_text())["final"]
    assert 0.5 < final["train_reward_accuracy"] <= 1 and final["train_reward_margin"] > 0
    assert final["valid_reward_accuracy"] is not None and final["train_mean_token_accuracy"] is None
    assert "train_reward_accuracy" in shown.output and "train_reward_accuracy" in (out / "report.md").read_text()
    assert validation_questions(validation, limit=2)[0] == "What is AI in simple words?"


def test_an_out_directory_that_cannot_be_made_is_one_error(fast_emulator, client, datasets_dir, tmp_path,
                                                           monkeypatch, capsys) -> None:
    result = ensure_fine_tuned_model(client, FineTuneRequest(training_path=datasets_dir / "training_set.jsonl"),
                                     timeout=60, poll_interval=0.1)
    in_the_way = tmp_path / "a-file"
    in_the_way.write_text("not a directory\n")
    for name, value in emulator_env(fast_emulator).items():
        monkeypatch.setenv(name, value)
    code, out, err = run_main(["report", result.job_id, "--out", str(in_the_way / "report")], capsys)
    assert code == 2, err
    assert f"Error: cannot write {in_the_way / 'report'}: {in_the_way} is a file, not a directory" in err
    assert "hint: pass --out a path in a directory you can write to" in err and "Traceback" not in err + out


def test_a_validation_file_that_is_not_utf8_is_one_error(fast_emulator, client, datasets_dir, tmp_path,
                                                         monkeypatch, capsys) -> None:
    result = ensure_fine_tuned_model(client, FineTuneRequest(training_path=datasets_dir / "training_set.jsonl"),
                                     timeout=60, poll_interval=0.1)
    utf16 = tmp_path / "validation.jsonl"
    utf16.write_text((datasets_dir / "validation_set.jsonl").read_text(encoding="utf-8"), encoding="utf-16")
    for name, value in emulator_env(fast_emulator).items():
        monkeypatch.setenv(name, value)
    code, out, err = run_main(["report", result.job_id, "--out", str(tmp_path / "report"), "--base-deployment", "b",
                               "--ft-deployment", "f", "--validation-file", str(utf16)], capsys)
    assert code == 2, err
    assert f"Error: {utf16} is not UTF-8 text" in err and "hint: " in err and "Traceback" not in err + out
    assert not (tmp_path / "report").exists()


def test_a_validation_file_without_questions_is_one_error_before_anything_is_written(
        fast_emulator, client, datasets_dir, tmp_path, monkeypatch, capsys) -> None:
    """The side-by-side was asked for (both deployments): a file it cannot take a question from says so, instead
    of a report without it and exit 0."""
    result = ensure_fine_tuned_model(client, FineTuneRequest(training_path=datasets_dir / "training_set.jsonl"),
                                     timeout=60, poll_interval=0.1)
    empty = tmp_path / "empty.jsonl"
    empty.write_text("\n", encoding="utf-8")
    for name, value in emulator_env(fast_emulator).items():
        monkeypatch.setenv(name, value)
    code, out, err = run_main(["report", result.job_id, "--out", str(tmp_path / "report"), "--base-deployment", "b",
                               "--ft-deployment", "f", "--validation-file", str(empty)], capsys)
    assert code == 2, err
    error, hint = err.splitlines()
    assert error == f"Error: {empty} has no questions for the side-by-side (no example with a user message)"
    assert hint.startswith("  hint: pass --validation-file a chat .jsonl") and "Traceback" not in err + out
    assert not (tmp_path / "report").exists()

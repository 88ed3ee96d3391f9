"""The CLI with preference data: `aoai-ft validate` detects the format or takes --method, `estimate` prices
preference pairs, and `aoai-ft train --method dpo --beta` trains a DPO job (and continues a fine-tuned model)."""
from __future__ import annotations

import json
from pathlib import Path

from click.testing import CliRunner

from pipeline.cli import cli
from pipeline.dataset import validate_files
from tests.pipeline.emulated import invoke, make_client

DPO_MODEL = "gpt-4.1-mini-2025-04-14"


def run(args: list[str]):
    return CliRunner().invoke(cli, args)


def test_validate_detects_preference_pairs_and_reports_their_tokens(datasets_dir: Path) -> None:
    train = datasets_dir / "preference_training_set.jsonl"
    shown = run(["validate", str(train), "--model", DPO_MODEL])
    assert shown.exit_code == 0, shown.output
    assert "(preference pairs, DPO)" in shown.output and "non_preferred" in shown.output and "OK:" in shown.output
    as_json = json.loads(run(["validate", str(train), "--model", DPO_MODEL, "--json"]).output)
    file = as_json["files"][0]
    assert file["method"] == "dpo" and set(file["tokens"]) == {"total", "input", "preferred", "non_preferred"}


def test_validate_refuses_dpo_for_a_model_without_it_and_a_chat_file_as_dpo(datasets_dir: Path) -> None:
    refused = run(["validate", str(datasets_dir / "preference_training_set.jsonl")])  # default model: gpt-4o-mini
    assert refused.exit_code == 1 and "method_not_supported" in refused.output and DPO_MODEL in refused.output
    chat_as_dpo = run(["validate", str(datasets_dir / "training_set.jsonl"), "--model", DPO_MODEL, "--method", "dpo"])
    assert chat_as_dpo.exit_code == 1 and "format_mismatch" in chat_as_dpo.output


def test_validate_names_the_lines_of_a_mixed_file(tmp_path: Path, datasets_dir: Path) -> None:
    pairs = (datasets_dir / "preference_training_set.jsonl").read_text().splitlines()[:12]
    chats = (datasets_dir / "training_set.jsonl").read_text().splitlines()[:2]
    mixed = tmp_path / "mixed.jsonl"
    mixed.write_text("\n".join(pairs[:5] + chats + pairs[5:]) + "\n")
    shown = run(["validate", str(mixed), "--model", DPO_MODEL, "--json"])
    assert shown.exit_code == 1
    errors = json.loads(shown.output)["files"][0]["errors"]
    assert errors[0]["code"] == "mixed_formats" and "line(s) 6-7" in errors[0]["message"]
    assert [(e["line"], e["code"]) for e in errors[1:]] == [(6, "format_mismatch"), (7, "format_mismatch")]


def test_estimate_prices_both_replies(datasets_dir: Path) -> None:
    train = datasets_dir / "preference_training_set.jsonl"
    shown = run(["estimate", str(train), "--model", DPO_MODEL, "--json"])
    assert shown.exit_code == 0, shown.output
    estimate = json.loads(shown.output)
    expected = validate_files([train], model=DPO_MODEL).estimate
    assert estimate["billed_tokens"] == expected.billed_tokens and estimate["usd"] == expected.usd
    human = run(["estimate", str(train), "--model", DPO_MODEL, "--epochs", "2"])
    assert "preference pairs (both replies counted)" in human.output and "x 2 epochs" in human.output
    over = run(["estimate", str(train), "--model", DPO_MODEL, "--max-usd", "0.000001"])
    assert over.exit_code != 0 and "above --max-usd" in over.output


def test_train_with_dpo_then_continue_the_model(fast_emulator, datasets_dir: Path) -> None:
    first = invoke(fast_emulator, ["train", "-t", str(datasets_dir / "training_set.jsonl"), "-m", DPO_MODEL,
                                   "--suffix", "sft", "--poll-interval", "0.1", "--timeout", "60"])
    assert first.exit_code == 0, first.output
    client = make_client(fast_emulator)
    (sft,) = client.fine_tuning.jobs.list()
    args = ["train", "-t", str(datasets_dir / "preference_training_set.jsonl"),
            "-v", str(datasets_dir / "preference_validation_set.jsonl"), "-m", sft.fine_tuned_model,
            "--method", "dpo", "--beta", "0.1", "--poll-interval", "0.1", "--timeout", "60"]
    dpo = invoke(fast_emulator, args)
    assert dpo.exit_code == 0, dpo.output
    assert "succeeded: fine-tuned model " + DPO_MODEL + ".ft-" in dpo.output
    assert "reward_accuracy 0." in dpo.output  # the progress line shows the DPO figure
    job = next(j for j in client.fine_tuning.jobs.list() if j.id != sft.id)
    assert job.model == sft.fine_tuned_model and job.method.type == "dpo" and job.method.dpo.hyperparameters.beta == 0.1
    again = invoke(fast_emulator, args)  # same method and beta: adopted, not trained twice
    assert again.exit_code == 0 and "adopted existing job" in again.output
    other_beta = invoke(fast_emulator, [*args[:-4], "--beta", "0.3", "--detach"])
    assert other_beta.exit_code == 0 and "started job" in other_beta.output
    client.fine_tuning.jobs.cancel(next(j for j in client.fine_tuning.jobs.list() if j.status != "succeeded").id)
    detected = invoke(fast_emulator, ["train", "-t", str(datasets_dir / "preference_training_set.jsonl"),
                                      "-m", DPO_MODEL, "--detach"])  # no --method: the file's format decides
    assert detected.exit_code == 0, detected.output
    assert "holds preference pairs: training with DPO" in detected.output
    assert client.fine_tuning.jobs.list().data[0].method.type == "dpo"


def test_train_usage_errors(fast_emulator, datasets_dir: Path) -> None:
    beta_alone = invoke(fast_emulator, ["train", "-t", str(datasets_dir / "training_set.jsonl"), "--beta", "0.1"])
    assert beta_alone.exit_code == 2 and "--beta is a DPO setting" in beta_alone.output
    refused = invoke(fast_emulator, ["train", "-t", str(datasets_dir / "preference_training_set.jsonl"),
                                     "--timeout", "30"])  # detected as DPO, but the default model has no DPO
    assert refused.exit_code != 0 and "direct preference optimization" in refused.output
    assert "Traceback" not in refused.output

"""`aoai-ft promote` through its real interface: click's CliRunner, `pipeline.cli.main` for exit codes, and a
stateful stand-in `pulumi` on PATH driven through the Automation API (the real CLI is not installed here)."""
from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest
from click.testing import CliRunner

from pipeline import envnames
from pipeline.cli import cli, main
from tests.pipeline.promotion_world import DEV_ACCOUNT, DEV_OUTPUTS, MODEL
from tests.paths import AOAI_FT

ROOT = Path(__file__).resolve().parents[3]

@pytest.fixture
def pulumi(fake_pulumi):
    """The stand-in `pulumi` with a trained dev stack and an empty prod stack."""
    fake_pulumi.add_stack("dev", DEV_OUTPUTS)
    fake_pulumi.add_stack("prod")
    return fake_pulumi


@pytest.fixture
def no_pulumi(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    empty = tmp_path / "empty-bin"
    empty.mkdir()
    monkeypatch.setenv("PATH", str(empty))


def _run(args: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    with pytest.raises(SystemExit) as exit_info:
        main(args)
    captured = capsys.readouterr()
    return int(exit_info.value.code or 0), captured.out, captured.err


def test_default_prints_the_recipe_and_records_it_as_pending(tmp_path: Path, no_pulumi, capsys) -> None:
    source = tmp_path / "dev.json"
    source.write_text(json.dumps(DEV_OUTPUTS))
    ledger = tmp_path / "promotions.json"
    code, out, err = _run(["promote", "--from", "dev", "--to", "prod", "--from-json", str(source),
                           "--ledger", str(ledger)], capsys)
    assert code == 0, err
    assert out.splitlines() == [
        "pulumi config set --stack prod aoai-finetune:mode promote",
        f"pulumi config set --stack prod aoai-finetune:sourceModel {MODEL}",
        f"pulumi config set --stack prod aoai-finetune:sourceAccountId {DEV_ACCOUNT}",
        "pulumi config set --stack prod aoai-finetune:sourceStack ''",
        "pulumi config set --stack prod aoai-finetune:sourceEvalPassRate 0.75",
        "pulumi config set --stack prod aoai-finetune:sourceEvalBasePassRate 0",
        "pulumi config set --stack prod aoai-finetune:sourceEvalRunId evalrun_dev",
    ]
    assert "dev runs" in err and "pulumi up -s prod" in err and "(pending)" in err
    entry = json.loads(ledger.read_text())["environments"]["prod"]
    assert (entry["model"], entry["status"], entry["promoted_from"]) == (MODEL, "pending", "dev")


def test_apply_reads_dev_through_pulumi_and_sets_prod_config(tmp_path: Path, pulumi) -> None:
    ledger = tmp_path / "l.json"
    result = CliRunner().invoke(cli, ["promote", "--from", "dev", "--to", "prod", "--apply", "--ledger", str(ledger),
                                      "--cwd", str(ROOT)])
    assert result.exit_code == 0, result.output
    assert pulumi.commands() == [
        ["stack", "output", "--json", "--stack", "dev"],
        ["stack", "output", "--json", "--show-secrets", "--stack", "dev"],
        ["config", "set-all", "--stack", "prod", "--plaintext", "aoai-finetune:mode=promote",
         "--plaintext", f"aoai-finetune:sourceModel={MODEL}", "--plaintext", f"aoai-finetune:sourceAccountId={DEV_ACCOUNT}",
         "--plaintext", "aoai-finetune:sourceStack=", "--plaintext", "aoai-finetune:sourceEvalPassRate=0.75",
         "--plaintext", "aoai-finetune:sourceEvalBasePassRate=0", "--plaintext", "aoai-finetune:sourceEvalRunId=evalrun_dev"],
    ]
    assert {call["cwd"] for call in pulumi.calls() if call["argv"] != ["version"]} == {str(ROOT)}
    assert pulumi.config("prod") == {
        "aoai-finetune:mode": "promote", "aoai-finetune:sourceModel": MODEL,
        "aoai-finetune:sourceAccountId": DEV_ACCOUNT, "aoai-finetune:sourceStack": "",
        "aoai-finetune:sourceEvalPassRate": "0.75", "aoai-finetune:sourceEvalBasePassRate": "0",
        "aoai-finetune:sourceEvalRunId": "evalrun_dev"}
    assert json.loads(ledger.read_text())["environments"]["prod"]["status"] == "applied"


def test_a_missing_target_stack_changes_nothing_and_says_how_to_create_it(tmp_path: Path, fake_pulumi,
                                                                          capsys) -> None:
    fake_pulumi.add_stack("dev", DEV_OUTPUTS)
    ledger = tmp_path / "l.json"
    code, _, err = _run(["promote", "--from", "dev", "--to", "prod", "--apply", "--ledger", str(ledger)], capsys)
    assert code == 1
    assert "cannot configure stack prod: error: no stack named 'prod' found" in err
    assert "pulumi stack init prod" in err and "Traceback" not in err
    assert not ledger.exists()


def test_by_reference_needs_an_org_then_sets_source_stack(tmp_path: Path, pulumi, capsys) -> None:
    ledger = tmp_path / "l.json"
    code, _, err = _run(["promote", "--from", "dev", "--to", "prod", "--by-reference", "--ledger", str(ledger)], capsys)
    assert code == 2 and "needs the organization" in err and "--org" in err
    assert not ledger.exists()
    code, out, err = _run(["promote", "--from", "dev", "--to", "prod", "--by-reference", "--org", "acme",
                           "--ledger", str(ledger)], capsys)
    assert code == 0, err
    assert "pulumi config set --stack prod aoai-finetune:sourceStack acme/aoai-finetune/dev" in out.splitlines()


def test_untrained_source_fails_with_a_hint_and_records_nothing(tmp_path: Path, no_pulumi, capsys) -> None:
    source = tmp_path / "dev.json"
    source.write_text(json.dumps({envnames.AZURE_OPENAI_ACCOUNT_ID: DEV_ACCOUNT}))
    ledger = tmp_path / "l.json"
    code, out, err = _run(["promote", "--from", "dev", "--to", "prod", "--from-json", str(source),
                           "--ledger", str(ledger)], capsys)
    assert code == 1 and out == ""
    assert "no FINE_TUNED_MODEL output" in err and "hint: run `pulumi up -s dev`" in err
    assert not ledger.exists()


def test_missing_source_stack_reports_pulumis_error(tmp_path: Path, pulumi, capsys) -> None:
    code, _, err = _run(["promote", "--from", "staging", "--to", "prod", "--ledger", str(tmp_path / "l.json")], capsys)
    assert code == 1 and "cannot read stack staging: error: no stack named 'staging' found" in err
    assert "pulumi stack ls" in err


def test_without_pulumi_or_json_it_says_what_to_pass(tmp_path: Path, no_pulumi, capsys) -> None:
    code, _, err = _run(["promote", "--from", "dev", "--to", "prod", "--ledger", str(tmp_path / "l.json")], capsys)
    assert code == 2 and "--from-json" in err


def test_from_and_to_are_required_unless_listing(tmp_path: Path, no_pulumi, capsys) -> None:
    code, _, err = _run(["promote", "--from", "dev"], capsys)
    assert code == 2 and "--from and --to" in err


def test_list_shows_which_model_each_environment_runs(tmp_path: Path, no_pulumi) -> None:
    ledger = tmp_path / "l.json"
    runner = CliRunner()
    empty = runner.invoke(cli, ["promote", "--list", "--ledger", str(ledger)])
    assert empty.exit_code == 0 and "no promotions recorded" in empty.output
    source = tmp_path / "dev.json"
    source.write_text(json.dumps(DEV_OUTPUTS))
    assert runner.invoke(cli, ["promote", "--from", "dev", "--to", "prod", "--from-json", str(source),
                               "--ledger", str(ledger)]).exit_code == 0
    listed = runner.invoke(cli, ["promote", "--list", "--ledger", str(ledger)], terminal_width=250)
    assert listed.exit_code == 0
    rows = {line.split("│")[1].strip(): line for line in listed.output.splitlines() if line.count("│") >= 5}
    assert "observed" in rows["dev"] and "pending" in rows["prod"] and MODEL in rows["prod"]


def test_installed_entry_point_runs_promote(tmp_path: Path) -> None:
    """The console script, as CI calls it (stdin JSON, no pulumi on PATH)."""
    done = subprocess.run([str(AOAI_FT), "promote", "--from", "dev", "--to", "prod", "--from-json", "-",
                           "--ledger", str(tmp_path / "l.json")], input=json.dumps(DEV_OUTPUTS), text=True,
                          capture_output=True, env={"PATH": str(tmp_path)}, timeout=60)
    assert done.returncode == 0, done.stderr
    assert f"aoai-finetune:sourceModel {MODEL}" in done.stdout


def test_esc_apply_sets_the_environment_instead_of_the_stack(tmp_path: Path, pulumi) -> None:
    pulumi.add_environment("acme/aoai-finetune/prod")
    result = CliRunner().invoke(cli, ["promote", "--from", "dev", "--to", "prod", "--esc", "acme/aoai-finetune/prod",
                                      "--apply", "--ledger", str(tmp_path / "l.json")])
    assert result.exit_code == 0, result.output
    sets = pulumi.commands()[2:]
    assert [c[:5] for c in sets] == [["env", "set", "--string", "acme/aoai-finetune/prod",
                                      f'pulumiConfig["aoai-finetune:{key}"]'] for key in
                                     ("mode", "sourceModel", "sourceAccountId", "sourceStack",
                                      "sourceEvalPassRate", "sourceEvalBasePassRate", "sourceEvalRunId")]
    values = pulumi.environment("acme/aoai-finetune/prod")
    assert values['pulumiConfig["aoai-finetune:sourceModel"]'] == MODEL
    assert values['pulumiConfig["aoai-finetune:sourceAccountId"]'] == DEV_ACCOUNT
    assert pulumi.config("prod") == {}  # the stack's own config is untouched
    assert "ESC environment acme/aoai-finetune/prod (imported by stack prod)" in result.output


# ----- the quality gate ------------------------------------------------------------------------------------------
def test_a_source_below_the_bar_is_refused_with_its_figures_and_nothing_changes(tmp_path: Path, pulumi,
                                                                                capsys) -> None:
    weak = {**DEV_OUTPUTS, envnames.EVAL_PASS_RATE: 0.125, envnames.EVAL_BASE_PASS_RATE: 0.0625,
            envnames.EVAL_RUN_ID: "evalrun_weak"}
    source, ledger = tmp_path / "dev.json", tmp_path / "l.json"
    source.write_text(json.dumps(weak))
    code, out, err = _run(["promote", "--from", "dev", "--to", "prod", "--from-json", str(source), "--apply",
                           "--ledger", str(ledger)], capsys)
    assert code == 1 and out == ""
    assert "the model of stack dev is below the quality bar" in err
    assert "improvement over the base model +6% points (12% vs 6%) is below the minimum +10%" in err
    assert "evalrun_weak" in err and "hint:" in err and "Traceback" not in err
    assert pulumi.calls() == [] and pulumi.config("prod") == {} and not ledger.exists()  # nothing set or recorded
    code, _, err = _run(["promote", "--from", "dev", "--to", "prod", "--from-json", str(source), "--min-improvement",
                         "0.05", "--min-pass-rate", "0.2", "--ledger", str(ledger)], capsys)
    assert code == 1 and "pass rate 12% is below the minimum 20%" in err


def test_a_source_without_an_evaluation_is_refused(tmp_path: Path, no_pulumi, capsys) -> None:
    source = tmp_path / "dev.json"
    source.write_text(json.dumps({k: v for k, v in DEV_OUTPUTS.items() if not k.startswith("EVAL_")}))
    code, _, err = _run(["promote", "--from", "dev", "--to", "prod", "--from-json", str(source),
                         "--ledger", str(tmp_path / "l.json")], capsys)
    assert code == 1 and "has no recorded evaluation" in err


def test_the_figures_are_pinned_shown_and_kept_in_the_ledger(tmp_path: Path, no_pulumi, capsys) -> None:
    source, ledger = tmp_path / "dev.json", tmp_path / "l.json"
    source.write_text(json.dumps(DEV_OUTPUTS))
    code, out, err = _run(["promote", "--from", "dev", "--to", "prod", "--from-json", str(source),
                           "--ledger", str(ledger)], capsys)
    assert code == 0, err
    assert "its evaluation: pass rate 75%, base model 0% (+75% points) (eval run evalrun_dev)" in err
    assert "pulumi config set --stack prod aoai-finetune:sourceEvalPassRate 0.75" in out.splitlines()
    entry = json.loads(ledger.read_text())["environments"]["prod"]
    assert entry["evaluation"] == {"evalPassRate": 0.75, "evalBasePassRate": 0.0, "evalRunId": "evalrun_dev"}


def test_a_ledger_that_cannot_be_written_fails_before_the_config_is_set(tmp_path: Path, pulumi, capsys) -> None:
    in_the_way = tmp_path / "a-file"
    in_the_way.write_text("not a directory\n")
    ledger = in_the_way / "promotions.json"
    code, out, err = _run(["promote", "--from", "dev", "--to", "prod", "--apply", "--ledger", str(ledger),
                           "--cwd", str(ROOT)], capsys)
    assert code == 2, err
    assert f"Error: cannot write {ledger}: {in_the_way} is a file, not a directory" in err
    assert "hint: pass --ledger a path in a directory you can write to" in err and "Traceback" not in err + out
    assert pulumi.config("prod") == {}  # nothing was set

"""`aoai-ft env` from a JSON file, from stdin, and from a `pulumi` on PATH (a script standing in for the CLI); what it says
when the key is left out, or there is nothing to turn into variables."""
from __future__ import annotations

import json
import stat
import subprocess
from pathlib import Path

import pytest
from click.testing import CliRunner

from pipeline import envnames
from pipeline.cli import cli
from tests.warm_cli import warm_aoai_ft

OUTPUTS = {envnames.AZURE_OPENAI_ENDPOINT: "http://127.0.0.1:8765/", envnames.AZURE_OPENAI_API_KEY: "k3y",
           envnames.AZURE_OPENAI_DEPLOYMENT: "teacher"}


def test_exports_without_secret_by_default(tmp_path) -> None:
    (tmp_path / "out.json").write_text(json.dumps(OUTPUTS))
    result = CliRunner().invoke(cli, ["env", "--from-json", str(tmp_path / "out.json")])
    assert result.exit_code == 0, result.output
    assert result.stdout == ("export AZURE_OPENAI_ENDPOINT=http://127.0.0.1:8765/\n"
                             "export AZURE_OPENAI_DEPLOYMENT=teacher\n")


def test_secret_with_flag_from_stdin() -> None:
    result = CliRunner().invoke(cli, ["env", "--from-json", "-", "--show-secrets", "--shell", "powershell"],
                                input=json.dumps(OUTPUTS))
    assert result.exit_code == 0, result.output
    assert "$env:AZURE_OPENAI_API_KEY = 'k3y'" in result.output


def test_runs_pulumi_when_installed_and_writes_dotenv(tmp_path, monkeypatch) -> None:
    fake = tmp_path / "bin" / "pulumi"
    fake.parent.mkdir()
    log = tmp_path / "argv.txt"
    fake.write_text(f"#!/bin/sh\necho \"$@\" > {log}\ncat <<'EOF'\n{json.dumps(OUTPUTS)}\nEOF\n")
    fake.chmod(fake.stat().st_mode | stat.S_IEXEC)
    monkeypatch.setenv("PATH", f"{fake.parent}:/usr/bin:/bin")
    target = tmp_path / ".env"
    result = CliRunner().invoke(cli, ["env", "--stack", "dev", "--write", str(target), "--show-secrets"])
    assert result.exit_code == 0, result.output
    assert log.read_text().split() == ["stack", "output", "--json", "--show-secrets", "--stack", "dev"]
    assert f'{envnames.AZURE_OPENAI_API_KEY}="k3y"' in target.read_text()


def test_failing_pulumi_is_reported(tmp_path, monkeypatch) -> None:
    fake = tmp_path / "pulumi"
    fake.write_text("#!/bin/sh\necho 'error: no stack selected' >&2\nexit 255\n")
    fake.chmod(0o755)
    monkeypatch.setenv("PATH", f"{tmp_path}:/usr/bin:/bin")
    result = CliRunner().invoke(cli, ["env"])
    assert result.exit_code == 1 and "Error: " in result.output and "no stack selected" in result.output


def test_bad_json_is_a_usage_error(tmp_path) -> None:
    result = CliRunner().invoke(cli, ["env", "--from-json", "-"], input="nope")
    assert result.exit_code == 2 and "Error: " in result.output and "not JSON" in result.output


# ---- first-time use: what `env` says when the key is left out, or there is nothing to turn into variables ----


def run_env(args: list[str], tmp_path: Path, **kwargs: object) -> subprocess.CompletedProcess[str]:
    """`aoai-ft env ...` as a subprocess on a PATH without the Pulumi CLI."""
    empty_bin = tmp_path / "no-pulumi-here"
    empty_bin.mkdir(exist_ok=True)
    env = {"PATH": f"{empty_bin}:/usr/bin:/bin", "HOME": str(tmp_path), "LANG": "C.UTF-8"}
    return subprocess.run([str(warm_aoai_ft()), "env", *args], capture_output=True, text=True, timeout=60, env=env,
                          **kwargs)  # type: ignore[call-overload]


def test_leaving_the_key_out_is_said_on_stderr(tmp_path) -> None:
    (tmp_path / "out.json").write_text(json.dumps(OUTPUTS))
    result = CliRunner().invoke(cli, ["env", "--from-json", str(tmp_path / "out.json")])
    assert result.exit_code == 0
    assert "API_KEY" not in result.stdout and "k3y" not in result.stdout + result.stderr
    assert result.stderr == f"note: left out the secret {envnames.AZURE_OPENAI_API_KEY}; add --show-secrets to include it\n"
    shown = CliRunner().invoke(cli, ["env", "--from-json", str(tmp_path / "out.json"), "--show-secrets"])
    assert shown.exit_code == 0 and shown.stderr == "" and "k3y" in shown.stdout
    without_key = {k: v for k, v in OUTPUTS.items() if k != envnames.AZURE_OPENAI_API_KEY}
    (tmp_path / "no-key.json").write_text(json.dumps(without_key))
    quiet = CliRunner().invoke(cli, ["env", "--from-json", str(tmp_path / "no-key.json")])
    assert quiet.exit_code == 0 and quiet.stderr == ""  # nothing was left out, nothing to say


@pytest.mark.parametrize("piped", ["{}", '{"notAnEnvName": 1}'])
def test_no_stack_outputs_is_an_error(tmp_path, piped: str) -> None:
    proc = run_env([], tmp_path, input=piped)
    assert proc.returncode == 1 and proc.stdout == ""
    error, hint = proc.stderr.strip().splitlines()
    assert error.startswith("Error: stdin has no ") and "outputs" in error
    assert hint.startswith("  hint: ") and "pulumi up" in hint


def test_only_the_secret_without_show_secrets_is_an_error(tmp_path) -> None:
    proc = run_env([], tmp_path, input=json.dumps({envnames.AZURE_OPENAI_API_KEY: "k3y"}))
    assert proc.returncode == 2 and proc.stdout == "" and "k3y" not in proc.stderr
    assert proc.stderr.splitlines() == [f"Error: the only output in stdin is the secret {envnames.AZURE_OPENAI_API_KEY}",
                                        "  hint: add --show-secrets to include it"]


def test_an_empty_pipe_without_pulumi_says_how_to_get_the_outputs(tmp_path) -> None:
    proc = run_env([], tmp_path, stdin=subprocess.DEVNULL)
    assert proc.returncode == 2 and proc.stdout == ""
    error, hint = proc.stderr.strip().splitlines()
    assert error == "Error: the Pulumi CLI is not installed and nothing came on stdin"
    assert "pulumi stack output --json --show-secrets | aoai-ft env" in hint and "install the Pulumi CLI" in hint
    assert "JSON" not in error


def test_an_empty_from_json_is_called_empty(tmp_path) -> None:
    proc = run_env(["--from-json", "-"], tmp_path, input="")
    assert proc.returncode == 2 and proc.stderr.splitlines()[0] == "Error: <stdin> is empty"


def test_a_dotenv_path_that_cannot_be_written_is_one_error(tmp_path) -> None:
    in_the_way = tmp_path / "a-file"
    in_the_way.write_text("not a directory\n")
    target = in_the_way / ".env"
    proc = run_env(["--write", str(target)], tmp_path, input=json.dumps({"AZURE_OPENAI_ENDPOINT": "https://x/"}))
    assert proc.returncode == 2, proc.stderr
    assert f"Error: cannot write {target}: {in_the_way} is a file, not a directory" in proc.stderr
    assert "hint: pass --write a path in a directory you can write to" in proc.stderr
    assert "Traceback" not in proc.stderr


@pytest.mark.parametrize("command", [["env"], ["promote", "--from", "dev", "--to", "prod", "--ledger", "{tmp}/l.json"]])
def test_outputs_saved_as_utf16_are_one_error_saying_to_save_utf8(tmp_path, command: list[str]) -> None:
    """Windows PowerShell's `pulumi stack output --json > dev.json` writes UTF-16."""
    saved = tmp_path / "dev.json"
    saved.write_text(json.dumps({"AZURE_OPENAI_ENDPOINT": "https://x/"}), encoding="utf-16")
    args = [arg.replace("{tmp}", str(tmp_path)) for arg in command]
    result = CliRunner().invoke(cli, [*args, "--from-json", str(saved)])
    assert result.exit_code == 2, result.output
    assert f"Error: {saved} is not UTF-8 text" in result.output and "Out-File -Encoding utf8" in result.output
    assert not isinstance(result.exception, UnicodeDecodeError)
    assert not (tmp_path / "l.json").exists()

"""`aoai-ft env` from a JSON file, from stdin, and from a `pulumi` on PATH (a script standing in for the CLI)."""
from __future__ import annotations

import json
import stat

from click.testing import CliRunner

from pipeline import envnames
from pipeline.cli import cli

OUTPUTS = {envnames.AZURE_OPENAI_ENDPOINT: "http://127.0.0.1:8765/", envnames.AZURE_OPENAI_API_KEY: "k3y",
           envnames.AZURE_OPENAI_DEPLOYMENT: "teacher"}


def test_exports_without_secret_by_default(tmp_path) -> None:
    (tmp_path / "out.json").write_text(json.dumps(OUTPUTS))
    result = CliRunner().invoke(cli, ["env", "--from-json", str(tmp_path / "out.json")])
    assert result.exit_code == 0, result.output
    assert result.output == ("export AZURE_OPENAI_ENDPOINT=http://127.0.0.1:8765/\n"
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
    assert result.exit_code == 1
    assert "no stack selected" in result.exception.message


def test_bad_json_is_a_usage_error(tmp_path) -> None:
    result = CliRunner().invoke(cli, ["env", "--from-json", "-"], input="nope")
    assert result.exit_code == 2 or getattr(result.exception, "exit_code", None) == 2

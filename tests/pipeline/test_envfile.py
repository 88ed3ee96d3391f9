"""Stack outputs -> env vars: names kept 1:1, secrets only on request, values quoted safely for each shell."""
from __future__ import annotations

import os
import stat
import subprocess

import pytest

from pipeline import envnames
from pipeline.envfile import format_exports, outputs_to_env, parse_outputs_json, write_dotenv
from pipeline.errors import UsageError

OUTPUTS = {
    envnames.AZURE_OPENAI_ENDPOINT: "https://aoai-ft-dev.openai.azure.com/",
    envnames.AZURE_OPENAI_API_KEY: "s3cr3t'key",
    envnames.AZURE_OPENAI_DEPLOYMENT: "teacher",
    "accountId": "/subscriptions/x/...",  # not env-shaped: skipped
    envnames.FINE_TUNED_MODEL: None,  # not produced yet: skipped
    "SOME_NUMBER": 3,
}


def test_secret_outputs_only_when_asked() -> None:
    plain = outputs_to_env(OUTPUTS)
    assert envnames.AZURE_OPENAI_API_KEY not in plain
    assert plain == {envnames.AZURE_OPENAI_ENDPOINT: "https://aoai-ft-dev.openai.azure.com/",
                     envnames.AZURE_OPENAI_DEPLOYMENT: "teacher", "SOME_NUMBER": "3"}
    assert outputs_to_env(OUTPUTS, include_secrets=True)[envnames.AZURE_OPENAI_API_KEY] == "s3cr3t'key"


def test_sh_exports_survive_a_real_shell() -> None:
    env = {"A_VALUE": "it's $HOME `x` \"q\"", "B": "plain"}
    script = format_exports(env, "sh") + 'printf "%s|%s" "$A_VALUE" "$B"'
    done = subprocess.run(["sh", "-c", script], capture_output=True, text=True, check=True, env={"PATH": os.environ["PATH"]})
    assert done.stdout == "it's $HOME `x` \"q\"|plain"


def test_powershell_and_fish_syntax() -> None:
    assert format_exports({"K": "it's"}, "powershell") == "$env:K = 'it''s'\n"
    assert format_exports({"K": "it's"}, "fish") == "set -gx K 'it\\'s'\n"
    with pytest.raises(UsageError):
        format_exports({"K": "v"}, "cmd")


def test_dotenv_is_private_and_parseable(tmp_path) -> None:
    path = write_dotenv({"K": 'va"l$ue', "L": "x"}, tmp_path / "sub" / ".env")
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert path.read_text() == 'K="va\\"l\\$ue"\nL="x"\n'


def test_outputs_json_must_be_an_object() -> None:
    assert parse_outputs_json('{"A": "b"}') == {"A": "b"}
    for bad in ("[1]", "not json"):
        with pytest.raises(UsageError):
            parse_outputs_json(bad)

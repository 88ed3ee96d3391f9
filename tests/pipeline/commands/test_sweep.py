"""`aoai-ft sweep` against the emulator's ARM plane: dry run, real sweep, bad input."""
from __future__ import annotations

import json
from datetime import timedelta

from click.testing import CliRunner

from pipeline import envnames
from pipeline.arm import ARM_TOKEN_ENV
from pipeline.cli import cli
from tests.pipeline.sweep_world import NOW, deployment_names


def test_cli_sweep_against_the_emulator(sweep_emulator, sweep_arm, sweep_account) -> None:
    rg, name = sweep_account
    env = {
        envnames.AZURE_SUBSCRIPTION_ID: sweep_emulator.config.subscription_id,
        envnames.AZURE_RESOURCE_GROUP: rg,
        envnames.AZURE_OPENAI_RESOURCE_NAME: name,
        envnames.AZURE_RESOURCE_MANAGER_ENDPOINT: sweep_emulator.url,
        ARM_TOKEN_ENV: "emulator-token",
    }
    runner = CliRunner()
    tomorrow = (NOW + timedelta(days=2)).strftime("%Y-%m-%dT%H:%M:%SZ")
    dry = runner.invoke(cli, ["sweep", "--dry-run", "--now", tomorrow, "--json"], env=env)
    assert dry.exit_code == 0, dry.output
    planned = json.loads(dry.output)
    assert sorted(i["deployment"] for i in planned["items"] if i["action"] == "would-delete") == ["expired", "fresh"]
    assert deployment_names(sweep_arm, rg, name) == {"expired", "fresh", "keeper", "typo"}

    real = runner.invoke(cli, ["sweep"], env=env, terminal_width=200)
    assert real.exit_code == 0, real.output
    assert "deleted 1 of 4 deployment(s)" in real.output
    assert "typo" in real.output and "not an ISO-8601 time" in real.output
    assert deployment_names(sweep_arm, rg, name) == {"fresh", "keeper", "typo"}


def test_cli_rejects_a_bad_now_and_a_missing_account(sweep_emulator) -> None:
    runner = CliRunner()
    bad = runner.invoke(cli, ["sweep", "--subscription", "s", "--resource-group", "rg", "--account", "a",
                              "--now", "soon"])
    assert bad.exit_code == 2 and "not an ISO-8601 time" in bad.output
    missing = runner.invoke(cli, ["sweep", "--subscription", sweep_emulator.config.subscription_id,
                                  "--resource-group", sweep_emulator.config.default_resource_group,
                                  "--account", "no-such-account", "--arm-endpoint", sweep_emulator.url],
                            env={ARM_TOKEN_ENV: "emulator-token"})
    assert missing.exit_code == 1
    assert "Error: could not list deployments of no-such-account" in missing.output

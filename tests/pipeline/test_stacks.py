"""`pipeline.stacks`: the Automation API against a stand-in `pulumi` (tests.pipeline.fake_pulumi)."""
from __future__ import annotations

from pathlib import Path

import pytest

from pipeline.errors import ServiceError, UsageError
from pipeline.stacks import read_stack_outputs, workspace


def test_outputs_come_back_as_values_without_the_secret_ones(fake_pulumi) -> None:
    fake_pulumi.add_stack("dev", {"FINE_TUNED_MODEL": "m.ft-1", "EVAL_PASS_RATE": 0.75, "AZURE_OPENAI_API_KEY": "k3y"},
                          secret=["AZURE_OPENAI_API_KEY"])
    assert read_stack_outputs("dev") == {"FINE_TUNED_MODEL": "m.ft-1", "EVAL_PASS_RATE": 0.75}


def test_no_call_selects_a_stack(fake_pulumi, tmp_path: Path) -> None:
    """Selecting would change which stack the user's next `pulumi up` targets."""
    fake_pulumi.add_stack("dev", {"FINE_TUNED_MODEL": "m.ft-1"})
    read_stack_outputs("dev", cwd=tmp_path)
    assert all(command[:2] != ["stack", "select"] for command in fake_pulumi.commands())
    assert {call["cwd"] for call in fake_pulumi.calls() if call["argv"] != ["version"]} == {str(tmp_path)}


def test_an_unknown_stack_names_pulumis_message_and_the_way_out(fake_pulumi) -> None:
    with pytest.raises(ServiceError) as error:
        read_stack_outputs("staging")
    assert error.value.message == "cannot read stack staging: error: no stack named 'staging' found"
    assert "pulumi stack ls" in error.value.hint


def test_without_pulumi_it_says_what_to_install_or_pass(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(UsageError, match="pulumi is not installed") as error:
        workspace()
    assert "--from-json" in error.value.hint


def test_a_cli_too_old_for_the_automation_api_says_upgrade(fake_pulumi, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FAKE_PULUMI_VERSION", "v2.25.0")
    with pytest.raises(UsageError, match="cannot be driven") as error:
        workspace()
    assert error.value.hint == "upgrade the Pulumi CLI"

"""`aoai-ft deploy` as a subprocess when ARM is unreachable, drops connections, or gets a hostile name: retried like
the data plane, then one `Error:` line that says what happened (and whether the deployment was accepted)."""
from __future__ import annotations

import os
import subprocess
import time
from pathlib import Path

import pytest

from pipeline.emulator.server import free_port
from tests.pipeline.emulated import add_fault, fired
from tests.warm_cli import warm_aoai_ft

ROOT = Path(__file__).resolve().parents[3]
BASE_MODEL = "gpt-4o-mini-2024-07-18"


def deploy(emu, *args: str, arm_url: str | None = None) -> subprocess.CompletedProcess[str]:
    cfg = emu.config
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": os.environ.get("HOME", "/tmp"),
           "AZURE_RESOURCE_MANAGER_TOKEN": "t", "LANG": "C.UTF-8"}
    argv = [str(warm_aoai_ft()), "deploy", "--subscription", cfg.subscription_id, "--resource-group",
            cfg.default_resource_group, "--account", cfg.default_account, "--arm-endpoint", arm_url or emu.url,
            *args]
    return subprocess.run(argv, capture_output=True, text=True, env=env, timeout=120)


def error_lines(proc: subprocess.CompletedProcess[str]) -> tuple[str, str]:
    assert "Traceback" not in proc.stderr + proc.stdout, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 2 and lines[0].startswith("Error: ") and lines[1].startswith("  hint: "), proc.stderr
    return lines[0], lines[1]


def deployments(emu) -> list[str]:
    return [d.name for d in emu.state.deployments.list(emu.config.default_account)]


@pytest.mark.parametrize("delete", [False, True])
def test_unreachable_arm_is_one_error_line(fast_emulator, delete: bool) -> None:  # noqa: F811
    url = f"http://127.0.0.1:{free_port()}"
    args = ["--deployment", "teacher", "--delete"] if delete else ["--deployment", "teacher", "--model", BASE_MODEL]
    started = time.monotonic()
    proc = deploy(fast_emulator, *args, "--max-retries", "1", arm_url=url)  # one retry, at once, instead of 3 over 3 s
    assert proc.returncode == 1
    error, hint = error_lines(proc)
    assert url in error and "no answer from Azure Resource Manager" in error
    assert "az login" not in hint and "--arm-endpoint" in hint
    assert time.monotonic() - started < 30


def test_dropped_put_and_polls_are_retried(fast_emulator) -> None:  # noqa: F811
    add_fault(fast_emulator, route="/deployments/teacher$", kind="drop", count=2, methods=["PUT"])
    add_fault(fast_emulator, route="operationStatuses", kind="drop", count=2)
    proc = deploy(fast_emulator, "--deployment", "teacher", "--model", BASE_MODEL)
    assert proc.returncode == 0, proc.stderr
    assert "Succeeded" in proc.stdout and deployments(fast_emulator) == ["teacher"]


def test_giving_up_after_acceptance_says_so(fast_emulator) -> None:  # noqa: F811
    add_fault(fast_emulator, route="operationStatuses", kind="drop")
    # one retry (at once) instead of the default five (15 s of back-off): the same path to giving up
    proc = deploy(fast_emulator, "--deployment", "teacher", "--model", BASE_MODEL, "--max-retries", "1")
    assert proc.returncode == 3
    error, hint = error_lines(proc)
    assert "deployment teacher was accepted" in error and "goes on in Azure" in error
    assert "az cognitiveservices account deployment show" in hint and "--deployment-name teacher" in hint
    assert deployments(fast_emulator) == ["teacher"]  # it really was accepted
    assert fired(fast_emulator) == [2]  # the first status poll and its one retry


def test_max_retries_bounds_the_arm_retries(fast_emulator) -> None:  # noqa: F811
    add_fault(fast_emulator, route="/deployments/teacher$", kind="500", methods=["PUT"])
    proc = deploy(fast_emulator, "--deployment", "teacher", "--model", BASE_MODEL, "--max-retries", "0")
    assert proc.returncode != 0 and "Traceback" not in proc.stderr
    assert fired(fast_emulator) == [1] and deployments(fast_emulator) == []


@pytest.mark.parametrize("name", ["..", ".", "' OR 1=1 --", "a" * 3000, "chat\U0001F600"], ids=lambda n: n[:8])
@pytest.mark.parametrize("delete", [False, True])
def test_invalid_deployment_names_touch_nothing(fast_emulator, name: str, delete: bool) -> None:  # noqa: F811
    args = ["--deployment", name, "--delete"] if delete else ["--deployment", name, "--model", BASE_MODEL]
    proc = deploy(fast_emulator, *args)
    assert proc.returncode == 2
    error, _ = error_lines(proc)
    assert error.startswith("Error: invalid deployment name")
    assert fast_emulator.state.accounts.get(fast_emulator.config.default_account) is not None
    assert deployments(fast_emulator) == []

"""`ask_until_answered` against the emulator over HTTP with the real openai SDK and real azure-identity.

Role propagation is a real wait on the emulator's clock: `sleep` advances it, so every retry is a real request."""
from __future__ import annotations

import socket
from collections.abc import Iterator

import openai
import pytest

from pipeline.clients import ConnectionSettings, openai_client
from pipeline.emulator import EmulatorConfig, EmulatorServer
from pipeline.emulator.clock import ManualClock
from pipeline.errors import ServiceError
from pipeline.smoke import ask_until_answered
from tests.pipeline.emulator.conftest import put_deployment
from tests.pipeline.emulator.test_dataplane_access import (
    ARM_TOKEN, DEPLOYMENT, RUNNER, assign, managed_identity, set_network,
)


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock()


@pytest.fixture
def emu(clock: ManualClock) -> Iterator[EmulatorServer]:
    server = EmulatorServer(EmulatorConfig(port=0, log_requests=False, arm_token=ARM_TOKEN, principals=[RUNNER],
                                           role_propagation_seconds=25, deployment_seconds=0), clock=clock).start()
    try:
        yield server
    finally:
        server.stop()


def entra(emu: EmulatorServer, monkeypatch: pytest.MonkeyPatch) -> openai.AzureOpenAI:
    return openai_client(ConnectionSettings(endpoint=emu.url, max_retries=0, timeout=10),
                         credential=managed_identity(emu, monkeypatch))


def keyed(emu: EmulatorServer, endpoint: str | None = None) -> openai.AzureOpenAI:
    return openai_client(ConnectionSettings(endpoint=endpoint or emu.url, api_key=emu.api_key, max_retries=0,
                                            timeout=5))


def test_waits_for_role_propagation_with_progress(emu: EmulatorServer, clock: ManualClock,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    put_deployment(emu, DEPLOYMENT, "gpt-4o-mini")
    assert assign(emu, RUNNER.object_id).status_code == 201
    lines: list[str] = []
    answer = ask_until_answered(entra(emu, monkeypatch), DEPLOYMENT, "What is AI?", timeout_seconds=600,
                                sleep_seconds=10, on_wait=lines.append, sleep=clock.advance)
    assert answer
    assert len(lines) == 3  # 0 s, 10 s, 20 s refused; at 30 s the 25 s propagation is over
    assert all("role assignment" in line and RUNNER.object_id in line and "of 600s" in line for line in lines)
    assert "PermissionDenied" in lines[0]
    assert ["waited 0s", "waited 10s", "waited 20s"] == [line.split("; ")[1].split(" of")[0] for line in lines]


def test_gives_up_naming_role_scope_and_principal(emu: EmulatorServer, clock: ManualClock,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    put_deployment(emu, DEPLOYMENT, "gpt-4o-mini")
    slept: list[float] = []
    with pytest.raises(ServiceError) as info:
        ask_until_answered(entra(emu, monkeypatch), DEPLOYMENT, "Q?", timeout_seconds=20, sleep_seconds=10,
                           sleep=slept.append)
    text = str(info.value)
    assert RUNNER.object_id in text and "Cognitive Services OpenAI User" in text and emu.url in text
    assert "10 minutes" in text and slept == [10, 10]  # retried until the 20 s were used up


def test_waits_for_a_deployment_that_is_not_serving_yet(emu: EmulatorServer, clock: ManualClock) -> None:
    put_deployment(emu, DEPLOYMENT, "gpt-4o-mini", ready_in=15)
    lines: list[str] = []
    assert ask_until_answered(keyed(emu), DEPLOYMENT, "Q?", sleep_seconds=10, on_wait=lines.append,
                              sleep=clock.advance)
    assert len(lines) == 2 and "to start serving" in lines[0]


@pytest.mark.parametrize("properties", [{"publicNetworkAccess": "Disabled"},
                                        {"networkAcls": {"defaultAction": "Deny", "ipRules": [{"value": "198.51.100.7"}]}}])
def test_network_rules_fail_at_once_with_the_way_out(emu: EmulatorServer, properties: dict) -> None:
    put_deployment(emu, DEPLOYMENT, "gpt-4o-mini")
    set_network(emu, **properties)
    slept: list[float] = []
    with pytest.raises(ServiceError) as info:
        ask_until_answered(keyed(emu), DEPLOYMENT, "Q?", sleep=slept.append)
    text = str(info.value)
    assert "\n" not in text and not slept
    assert "allowedIpRanges" in text and "inside the account's network" in text and "403" in text


def test_unreachable_endpoint_fails_at_once_in_one_line() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]  # nothing listens here once the socket is closed
    client = openai_client(ConnectionSettings(endpoint=f"http://127.0.0.1:{port}", api_key="k", max_retries=0,
                                              timeout=2))
    slept: list[float] = []
    with pytest.raises(ServiceError) as info:
        ask_until_answered(client, DEPLOYMENT, "Q?", sleep=slept.append)
    assert "\n" not in str(info.value) and not slept
    assert "cannot reach" in str(info.value) and "allowedIpRanges" in str(info.value)


def test_a_wrong_key_is_not_waited_for(emu: EmulatorServer) -> None:
    put_deployment(emu, DEPLOYMENT, "gpt-4o-mini")
    client = openai_client(ConnectionSettings(endpoint=emu.url, api_key="wrong", max_retries=0, timeout=5))
    slept: list[float] = []
    with pytest.raises(ServiceError, match="API key"):
        ask_until_answered(client, DEPLOYMENT, "Q?", sleep=slept.append)
    assert not slept

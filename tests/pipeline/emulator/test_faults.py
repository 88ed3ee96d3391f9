"""Injected faults against the real SDK: 429 with Retry-After, 500 and dropped connections are retried and
the call succeeds; latency is added."""
from __future__ import annotations

import time

import pytest

from pipeline.emulator import EmulatorConfig, EmulatorServer, FaultRule
from tests import loopback
from tests.pipeline.emulated import add_fault, fired


@pytest.mark.parametrize("kind", ["429", "500", "drop"])
def test_sdk_retries_through_a_fault(emulator, openai_client, deploy, kind):
    deploy(emulator, "base", "gpt-4o-mini-2024-07-18")
    add_fault(emulator, route="/chat/completions", kind=kind, count=1, seconds=0.2)
    started = time.monotonic()
    raw = openai_client.chat.completions.with_raw_response.create(
        model="base", messages=[{"role": "user", "content": "hi"}])
    assert raw.parse().choices[0].message.content
    assert raw.retries_taken == 1 and fired(emulator) == [1]
    if kind == "429":  # the SDK waited Retry-After (0.2 s) before retrying
        assert time.monotonic() - started >= 0.2


def test_429_carries_retry_after(emulator):
    add_fault(emulator, route="/openai/models", kind="429", count=1, seconds=3)
    r = loopback.get(f"{emulator.url}/openai/models?api-version=2024-10-21", headers={"api-key": emulator.api_key})
    assert r.status_code == 429 and r.headers["retry-after"] == "3" and r.headers["retry-after-ms"] == "3000"
    assert r.json()["error"]["code"] == "429"


def test_latency_and_rules_from_the_config(training_path):
    config = EmulatorConfig(port=0, log_requests=False,
                            faults=[FaultRule(route="/models$", kind="latency", seconds=0.3)])
    with EmulatorServer(config) as emu:
        key = {"api-key": emu.api_key}
        started = time.monotonic()
        assert loopback.get(f"{emu.url}/openai/models?api-version=2024-10-21", headers=key).status_code == 200
        assert time.monotonic() - started >= 0.3
        started = time.monotonic()
        assert loopback.get(f"{emu.url}/openai/files?api-version=2024-10-21", headers=key).status_code == 200
        assert time.monotonic() - started < 0.3  # other routes are not slowed down


def test_an_error_fault_answers_its_status_in_azures_envelope(emulator, openai_client):
    """kind `error`: any status and code (a refused purge, ARM's replication lag), not retried by the SDK."""
    import openai

    add_fault(emulator, route="/openai/models$", kind="error", status=403, code="AuthorizationFailed", count=1)
    with pytest.raises(openai.PermissionDeniedError) as info:
        openai_client.models.list()
    assert info.value.body == {"code": "AuthorizationFailed", "message": "Injected AuthorizationFailed."}
    assert openai_client.models.list().data and fired(emulator) == [1]


@pytest.mark.parametrize("rule", [{"kind": "error", "status": 302}, {"kind": "error", "code": ""}])
def test_an_error_fault_needs_an_error_status_and_a_code(emulator, rule):
    r = loopback.post(f"{emulator.url}/admin/faults", json={"route": "/x", **rule}, headers={"api-key": emulator.api_key})
    assert r.status_code == 400 and r.json()["error"]["code"] == "invalidPayload"


def test_stopping_ends_an_injected_delay_and_answers_the_request() -> None:
    """A request held by a long latency fault is answered when the emulator stops, and the stop is prompt (it used
    to wait out the delay, then leave the server thread running)."""
    import threading

    from tests.pipeline.emulator.conftest import put_deployment

    emu = EmulatorServer(EmulatorConfig(port=0, log_requests=False)).start()
    answers: list[int] = []
    try:
        put_deployment(emu, "base", "gpt-4o-mini-2024-07-18")
        add_fault(emu, route="/chat/completions", kind="latency", seconds=60)
        asking = threading.Thread(target=lambda: answers.append(loopback.post(
            f"{emu.url}/openai/deployments/base/chat/completions?api-version=2024-10-21",
            headers={"api-key": emu.api_key}, json={"messages": [{"role": "user", "content": "hi"}]},
            timeout=90).status_code))
        asking.start()
        deadline = time.monotonic() + 10
        while fired(emu) != [1] and time.monotonic() < deadline:
            time.sleep(0.02)
        assert fired(emu) == [1]
    finally:
        started = time.monotonic()
        emu.stop()
        stopped_after = time.monotonic() - started
    asking.join(10)
    assert stopped_after < 3, stopped_after
    assert answers == [200]

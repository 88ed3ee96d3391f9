"""`/admin/faults` needs the default account's key and refuses rules that cannot work; `--fault` says why."""
from __future__ import annotations

import subprocess
import time
from collections.abc import Iterator

import pytest

from pipeline.emulator import EmulatorConfig, EmulatorServer
from tests import loopback
from tests.warm_cli import warm_aoai_ft



@pytest.fixture(scope="module")
def emu() -> Iterator[EmulatorServer]:
    with EmulatorServer(EmulatorConfig(port=0, log_requests=False)) as server:
        yield server


def rules(emu: EmulatorServer) -> list[dict]:
    return loopback.get(f"{emu.url}/admin/faults", headers={"api-key": emu.api_key}).json()["rules"]


@pytest.mark.parametrize("method", ["GET", "POST", "DELETE"])
@pytest.mark.parametrize("key", [None, "wrong-key"])
def test_admin_needs_the_default_accounts_key(emu: EmulatorServer, method: str, key: str | None) -> None:
    headers = {"api-key": key} if key else {}
    r = loopback.request(method, f"{emu.url}/admin/faults", json={"kind": "500"}, headers=headers)
    assert r.status_code == 401
    assert r.json()["error"]["code"] == "unauthorized"
    assert rules(emu) == []


@pytest.mark.parametrize("rule, field", [
    ({"kind": "latency", "seconds": 1e308}, "seconds"),
    ({"kind": "latency", "seconds": -1}, "seconds"),
    ({"route": "(", "kind": "500"}, "route"),
    ({"route": "/x", "kind": "teapot"}, "kind"),
    ({"route": "/x", "kind": "500", "methods": ["FETCH"]}, "methods"),
    ({"route": "/x", "kind": "500", "rate": 2}, "rate"),
    ({"route": "/x", "kind": "500", "cout": 1}, "cout"),
])
def test_rules_that_cannot_work_are_400(emu: EmulatorServer, rule: dict, field: str) -> None:
    r = loopback.post(f"{emu.url}/admin/faults", json=rule, headers={"api-key": emu.api_key})
    assert r.status_code == 400, r.text
    error = r.json()["error"]
    assert error["code"] == "invalidPayload" and field in error["message"]
    assert rules(emu) == []


def test_a_valid_rule_is_added_and_fires(emu: EmulatorServer) -> None:
    r = loopback.post(f"{emu.url}/admin/faults", json={"route": "/openai/models", "kind": "500", "count": 1},
                      headers={"api-key": emu.api_key})
    assert r.status_code == 201
    models = loopback.get(f"{emu.url}/openai/models?api-version=2024-10-21", headers={"api-key": emu.api_key})
    assert models.status_code == 500 and models.json()["error"]["code"] == "internalFailure"
    assert [rule["fired"] for rule in rules(emu)] == [1]
    loopback.delete(f"{emu.url}/admin/faults", headers={"api-key": emu.api_key}).raise_for_status()


@pytest.mark.parametrize("fault", ["route=(,kind=500", "kind=latency,seconds=1e308", "kind=500,when=now"])
def test_bad_fault_flag_is_one_error_line_not_a_traceback(fault: str) -> None:
    started = time.monotonic()
    proc = subprocess.run([str(warm_aoai_ft()), "emulator", "--port", "0", "--fault", fault],
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2
    assert proc.stderr.startswith("Error: invalid --fault"), proc.stderr
    first, hint = proc.stderr.splitlines()
    assert "Traceback" not in proc.stderr and hint.startswith("  hint:")
    assert time.monotonic() - started < 30

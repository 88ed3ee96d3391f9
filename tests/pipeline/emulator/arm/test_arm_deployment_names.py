"""Deployment names and capacities are checked as ARM checks them, so a hostile or mangled name never reaches storage
or turns into another resource's path (`DELETE .../deployments/..` must not touch the account)."""
from __future__ import annotations

import http.client
import json
from typing import Any
from urllib.parse import quote

import pytest

from tests.pipeline.emulator.arm.conftest import TOKEN, API_VERSION

BODY = {"sku": {"name": "Standard", "capacity": 1},
        "properties": {"model": {"format": "OpenAI", "name": "gpt-4o-mini", "version": "2024-07-18"}}}
BAD_NAMES = ["..", ".", "' OR 1=1 --", "a" * 3000, "chat\U0001F600", "-lead", "trail.", "a b", "a?b"]


@pytest.fixture
def account(arm, account_url, account_body) -> str:
    assert arm.put(account_url("ft-names"), json=account_body("ft-names")).status_code == 201
    return "ft-names"


def raw(emu: Any, method: str, path: str, body: Any = None) -> tuple[int, Any]:
    """http.client sends the path byte for byte (no dot-segment normalisation, unlike browsers and httpx)."""
    conn = http.client.HTTPConnection(emu.config.host, emu.config.port, timeout=10)
    try:
        payload = json.dumps(body) if body is not None else None
        conn.request(method, f"{path}?api-version={API_VERSION}", payload,
                     {"Authorization": f"Bearer {TOKEN}", "Content-Type": "application/json"})
        response = conn.getresponse()
        data = response.read()
        return response.status, json.loads(data) if data else None
    finally:
        conn.close()


@pytest.mark.parametrize("name", BAD_NAMES, ids=lambda n: n[:12])
def test_invalid_names_are_400_and_nothing_is_stored(emu, arm, account, account_url, name) -> None:
    path = f"{account_url(account)}/deployments/{quote(name, safe='')}"
    for method, body in [("PUT", BODY), ("GET", None), ("PATCH", {"tags": {}}), ("DELETE", None)]:
        status, reply = raw(emu, method, path, body)
        assert status == 400, (method, reply)
        assert reply["error"]["code"] == "InvalidResourceName"
    assert arm.get(f"{account_url(account)}/deployments").json()["value"] == []


@pytest.mark.parametrize("segment", ["..", "%2E%2E", ".%2e"])
def test_delete_of_dot_dot_does_not_touch_the_account(emu, arm, account, account_url, segment) -> None:
    status, reply = raw(emu, "DELETE", f"{account_url(account)}/deployments/{segment}")
    assert status == 400 and reply["error"]["code"] == "InvalidResourceName"
    assert arm.get(account_url(account)).status_code == 200


@pytest.mark.parametrize("capacity, code", [(10**30, "InvalidRequestContent"), (2**31, "InvalidRequestContent"),
                                            (10**6, "InsufficientQuota"), (0, "InvalidResourceProperties")])
def test_capacity_out_of_range_is_400(arm, account, account_url, capacity, code) -> None:
    body = {**BODY, "sku": {"name": "Standard", "capacity": capacity}}
    r = arm.put(f"{account_url(account)}/deployments/chat", json=body)
    assert r.status_code == 400, r.text
    assert r.json()["error"]["code"] == code and r.json()["error"]["target"] == "sku.capacity"
    assert arm.get(f"{account_url(account)}/deployments").json()["value"] == []


def test_a_valid_name_with_dots_and_dashes_is_accepted(arm, account, account_url) -> None:
    r = arm.put(f"{account_url(account)}/deployments/gpt-4o.mini_v2", json=BODY)
    assert r.status_code == 201, r.text

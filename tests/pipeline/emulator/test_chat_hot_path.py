"""The chat route's hot path: answered without FastAPI's routing, with the account and deployment it serves kept in
memory until the next database write. Every change made through the ARM plane (or straight into the state) must
show on the very next chat request, and anything but a POST to a chat path must still reach FastAPI."""
from __future__ import annotations

import logging
from collections.abc import Iterator
from typing import Any

import httpx
import openai
import pytest

from pipeline.emulator import EmulatorConfig, EmulatorServer
from pipeline.emulator.db import Database, ReadCache
from tests import loopback
from tests.pipeline.emulator.conftest import put_deployment

BODY = {"messages": [{"role": "user", "content": "What is artificial intelligence?"}]}
DEPLOYMENT = {"sku": {"name": "Standard", "capacity": 1},
              "properties": {"model": {"format": "OpenAI", "name": "gpt-4o-mini", "version": "2024-07-18"}}}


@pytest.fixture
def emu() -> Iterator[EmulatorServer]:
    with EmulatorServer(EmulatorConfig(port=0, log_requests=False, deployment_seconds=0)) as server:
        yield server


def arm(emu: EmulatorServer) -> httpx.Client:
    return loopback.Client(base_url=emu.url, headers={"Authorization": "Bearer t"}, params={"api-version": "2024-10-01"})


def account_path(emu: EmulatorServer, name: str | None = None) -> str:
    return (f"/subscriptions/{emu.config.subscription_id}/resourceGroups/{emu.config.default_resource_group}"
            f"/providers/Microsoft.CognitiveServices/accounts/{name or emu.config.default_account}")


def chat(emu: EmulatorServer, deployment: str, key: str | None = None, account: str | None = None) -> httpx.Response:
    prefix = f"/accounts/{account}" if account else ""
    return loopback.post(f"{emu.url}{prefix}/openai/deployments/{deployment}/chat/completions",
                         params={"api-version": "2024-10-21"}, headers={"api-key": key or emu.api_key}, json=BODY)


def test_deployments_created_changed_and_deleted_through_arm_show_on_the_next_request(emu: EmulatorServer) -> None:
    path = account_path(emu) + "/deployments/chat"
    assert chat(emu, "chat").json()["error"]["code"] == "DeploymentNotFound"  # "no such deployment" is remembered...
    with arm(emu) as client:
        assert client.put(path, json=DEPLOYMENT).status_code in (200, 201)
        assert chat(emu, "chat").status_code == 200  # ...only until ARM writes
        assert chat(emu, "CHAT").status_code == 200  # names are case-insensitive, as in the table

        put_deployment(emu, "chat", "gpt-4o-mini", paused=True)  # a write straight into the state, other thread
        assert chat(emu, "chat").status_code == 423

        assert client.delete(path).status_code in (200, 202, 204)
        assert chat(emu, "chat").json()["error"]["code"] == "DeploymentNotFound"
        assert chat(emu, "CHAT").status_code == 404


def test_keys_and_local_auth_changed_through_arm_apply_to_the_next_request(emu: EmulatorServer) -> None:
    name = "hot-path"

    def account(**properties: Any) -> dict[str, Any]:
        return {"location": "northcentralus", "kind": "OpenAI", "sku": {"name": "S0"},
                "properties": {"customSubDomainName": name, **properties}}

    with arm(emu) as client:
        created = client.put(account_path(emu, name), json=account())
        assert created.status_code in (200, 201), created.text
        client.put(account_path(emu, name) + "/deployments/chat", json=DEPLOYMENT).raise_for_status()
        old = client.post(account_path(emu, name) + "/listKeys").json()["key1"]
        assert chat(emu, "chat", old, account=name).status_code == 200

        new = client.post(account_path(emu, name) + "/regenerateKey", json={"keyName": "Key1"}).json()["key1"]
        assert chat(emu, "chat", old, account=name).status_code == 401
        assert chat(emu, "chat", new, account=name).status_code == 200

        client.put(account_path(emu, name), json=account(disableLocalAuth=True)).raise_for_status()
        refused = chat(emu, "chat", new, account=name)
        assert refused.status_code == 403 and refused.json()["error"]["code"] == "AuthenticationTypeDisabled"

        client.delete(account_path(emu, name)).raise_for_status()
        assert chat(emu, "chat", new, account=name).status_code == 404


def test_the_sdk_on_every_chat_prefix(emu: EmulatorServer) -> None:
    """Dated and v1 surfaces, default account and `/accounts/{name}`: each answered with usage."""
    put_deployment(emu, "chat", "gpt-4o-mini")
    dated = openai.AzureOpenAI(azure_endpoint=emu.url, api_key=emu.api_key, api_version="2024-10-21", max_retries=0)
    v1 = openai.OpenAI(base_url=f"{emu.url}/openai/v1/", api_key=emu.api_key, max_retries=0)
    for client in (dated, v1):
        answer = client.chat.completions.create(model="chat", messages=BODY["messages"], max_tokens=5)
        assert answer.choices[0].finish_reason == "length" and answer.usage.completion_tokens <= 5
        assert answer.usage.total_tokens == answer.usage.prompt_tokens + answer.usage.completion_tokens
    with pytest.raises(openai.NotFoundError):
        v1.chat.completions.create(model="missing", messages=BODY["messages"])
    stream = dated.chat.completions.create(model="chat", messages=BODY["messages"], stream=True)
    assert "".join(c.choices[0].delta.content or "" for c in stream if c.choices)


def test_everything_but_a_chat_post_still_goes_through_fastapi(emu: EmulatorServer) -> None:
    put_deployment(emu, "chat", "gpt-4o-mini")
    url = f"{emu.url}/openai/deployments/chat/chat/completions?api-version=2024-10-21"
    got = loopback.get(url, headers={"api-key": emu.api_key})
    assert got.status_code == 405 and got.json()["error"]["code"] == "methodNotAllowed"
    assert loopback.post(f"{emu.url}/openai/deployments/chat/chat/completions/extra?api-version=2024-10-21",
                         headers={"api-key": emu.api_key}, json=BODY).status_code == 404
    assert loopback.post(f"{emu.url}//openai/deployments/chat/chat/completions?api-version=2024-10-21",
                         headers={"api-key": emu.api_key}, json=BODY).status_code == 200  # legacy double slash


def test_the_request_log_has_a_line_per_chat_request(caplog: pytest.LogCaptureFixture) -> None:
    with EmulatorServer(EmulatorConfig(port=0, deployment_seconds=0)) as server:
        put_deployment(server, "chat", "gpt-4o-mini")
        with caplog.at_level(logging.INFO, logger="aoai_ft.emulator"):
            assert chat(server, "chat").status_code == 200
            assert chat(server, "nope").status_code == 404
    lines = [r.getMessage() for r in caplog.records if r.name == "aoai_ft.emulator"]
    assert any(line.startswith("POST /openai/deployments/chat/chat/completions -> 200 (") for line in lines), lines
    assert any(line.startswith("POST /openai/deployments/nope/chat/completions -> 404 (") for line in lines), lines


def test_read_cache_keeps_a_value_until_the_next_write_and_never_one_loaded_during_a_write() -> None:
    db = Database(None)
    db.ensure_schema("CREATE TABLE IF NOT EXISTS t (v INTEGER)")
    db.execute("INSERT INTO t VALUES (1)")
    cache: ReadCache[Any] = ReadCache(db)
    loads: list[int] = []

    def load() -> int:
        loads.append(1)
        return db.query_one("SELECT max(v) AS v FROM t")["v"]

    assert cache.get("v", load) == 1 and cache.get("v", load) == 1 and len(loads) == 1
    db.execute("INSERT INTO t VALUES (2)")
    assert cache.get("v", load) == 2 and len(loads) == 2
    with db.transaction() as conn:
        conn.execute("INSERT INTO t VALUES (3)")
        assert cache.get("v", load) == 3  # read inside the transaction...
    with pytest.raises(RuntimeError):
        with db.transaction() as conn:
            conn.execute("INSERT INTO t VALUES (4)")
            assert cache.get("v", load) == 4
            raise RuntimeError("roll back")
    assert cache.get("v", load) == 3  # ...and never served once rolled back

    def load_while_written() -> int:  # another thread's write lands while this value is being loaded
        value = load()
        db.execute("INSERT INTO t VALUES (5)")
        return value

    assert cache.get("w", load_while_written) == 3
    assert cache.get("w", load) == 5


def test_read_cache_holds_a_bounded_number_of_names() -> None:
    """Names come from request paths: a caller inventing new ones cannot grow the cache without end."""
    cache: ReadCache[None] = ReadCache(Database(None), max_entries=8)
    for i in range(100):
        cache.get(f"deployment-{i}", lambda: None)
        assert len(cache) <= 8

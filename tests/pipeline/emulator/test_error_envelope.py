"""Every refusal is Azure's `{"error": {"code", "message"}}`, never FastAPI's `{"detail"}` nor a 500, and a refused
request leaves its keep-alive connection usable."""
from __future__ import annotations

import asyncio
import http.client
import json
from collections.abc import Iterator
from typing import Any

import pytest

from pipeline.emulator import EmulatorConfig, EmulatorServer

JOBS = "/openai/fine_tuning/jobs?api-version=2025-04-01-preview"
FILES = "/openai/files?api-version=2024-10-21"
MODEL = "gpt-4o-mini-2024-07-18"


@pytest.fixture(scope="module")
def emu() -> Iterator[EmulatorServer]:
    with EmulatorServer(EmulatorConfig(port=0, log_requests=False)) as server:
        yield server


@pytest.fixture
def conn(emu: EmulatorServer) -> Iterator[http.client.HTTPConnection]:
    connection = http.client.HTTPConnection(emu.config.host, emu.config.port, timeout=10)
    yield connection
    connection.close()


def call(conn: http.client.HTTPConnection, method: str, path: str, body: bytes | str = b"",
         headers: dict[str, str] | None = None) -> tuple[int, Any]:
    conn.request(method, path, body, headers or {})
    response = conn.getresponse()
    payload = response.read()
    return response.status, json.loads(payload) if payload else None


def assert_envelope(status: int, body: Any, expected: int) -> dict[str, Any]:
    assert status == expected, body
    assert set(body) == {"error"}, body
    assert isinstance(body["error"]["code"], str) and body["error"]["code"]
    assert isinstance(body["error"]["message"], str) and body["error"]["message"]
    return body["error"]


@pytest.mark.parametrize("method_field, param", [
    ({"type": "supervised", "supervised": "x"}, "method.supervised"),
    ({"type": ["x"]}, "method.type"),
    ({"type": "supervised", "supervised": {"hyperparameters": "fast"}}, "method.supervised.hyperparameters"),
    ({"type": "dpo", "dpo": {"hyperparameters": {"beta": "high"}}}, "method.dpo.hyperparameters.beta"),
    ({"type": "reinforcement"}, "method.type"),
    ("supervised", "method"),
])
def test_malformed_method_is_400_and_the_connection_survives(emu: EmulatorServer, conn: http.client.HTTPConnection,
                                                              method_field: Any, param: str) -> None:
    headers = {"api-key": emu.api_key, "content-type": "application/json"}
    body = json.dumps({"model": MODEL, "training_file": "file-x", "method": method_field})
    error = assert_envelope(*call(conn, "POST", JOBS, body, headers), 400)
    assert error["param"] == param
    status, listing = call(conn, "GET", JOBS, headers=headers)  # same keep-alive connection
    assert status == 200 and listing["object"] == "list"


@pytest.mark.parametrize("hyperparameters, param", [
    ({"n_epochs": True}, "hyperparameters.n_epochs"),
    ({"batch_size": "8"}, "hyperparameters.batch_size"),
    ({"learning_rate_multiplier": False}, "hyperparameters.learning_rate_multiplier"),
])
def test_hyperparameters_are_strictly_typed(emu: EmulatorServer, conn: http.client.HTTPConnection,
                                             hyperparameters: dict[str, Any], param: str) -> None:
    headers = {"api-key": emu.api_key, "content-type": "application/json"}
    body = json.dumps({"model": MODEL, "training_file": "file-x", "hyperparameters": hyperparameters})
    assert assert_envelope(*call(conn, "POST", JOBS, body, headers), 400)["param"] == param


def test_method_not_allowed_and_unknown_route_use_the_envelope(emu: EmulatorServer,
                                                               conn: http.client.HTTPConnection) -> None:
    headers = {"api-key": emu.api_key}
    assert_envelope(*call(conn, "PUT", FILES, b"", headers), 405)
    assert_envelope(*call(conn, "GET", "/no/such/route", b"", headers), 404)


def test_multipart_refusals_use_the_envelope(emu: EmulatorServer, conn: http.client.HTTPConnection) -> None:
    headers = {"api-key": emu.api_key}
    no_boundary = {**headers, "content-type": "multipart/form-data"}
    error = assert_envelope(*call(conn, "POST", FILES, b"purpose=fine-tune", no_boundary), 400)
    assert "boundary" in error["message"].lower()
    parts = "".join(f'--b\r\nContent-Disposition: form-data; name="f{i}"\r\n\r\nv\r\n' for i in range(20)) + "--b--\r\n"
    many = {**headers, "content-type": "multipart/form-data; boundary=b"}
    error = assert_envelope(*call(conn, "POST", FILES, parts, many), 400)
    assert "fields" in error["message"].lower()
    files = "".join(f'--b\r\nContent-Disposition: form-data; name="file"; filename="f{i}.jsonl"\r\n\r\n{{}}\r\n'
                    for i in range(3)) + "--b--\r\n"
    error = assert_envelope(*call(conn, "POST", FILES, files, many), 400)
    assert "files" in error["message"].lower()
    status, listing = call(conn, "GET", FILES, headers=headers)
    assert status == 200 and listing["data"] == []


def test_an_unexpected_exception_is_a_500_envelope_not_a_reset() -> None:
    """The last line of defence itself: a handler bug answers in the envelope (and is logged), no re-raise."""
    from pipeline.emulator.errors import InternalErrors

    async def broken(scope: dict[str, Any], receive: Any, send: Any) -> None:
        raise RuntimeError("bug")

    sent: list[dict[str, Any]] = []

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    asyncio.run(InternalErrors(broken)({"type": "http", "method": "GET", "path": "/x"}, None, send))
    assert sent[0]["status"] == 500
    assert json.loads(sent[1]["body"])["error"]["code"] == "internalFailure"

"""A tiny fake of the ARM `deletedAccounts` endpoints on 127.0.0.1, recording what the SDK sends.

Stand-in until the emulator's ARM plane lands: tests only use `FakeArm.endpoint`, `.token`, `.requests` and
`.soft_delete(...)`, so the fixture can later return the emulator with the same surface.
"""
from __future__ import annotations

import json
import re
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

import pytest

_DELETED = re.compile(
    r"^/subscriptions/(?P<sub>[^/]+)/providers/Microsoft\.CognitiveServices/locations/(?P<loc>[^/]+)"
    r"/resourceGroups/(?P<rg>[^/]+)/deletedAccounts/(?P<name>[^/]+)$",
    re.IGNORECASE,
)
_DELETED_LIST = re.compile(r"^/subscriptions/(?P<sub>[^/]+)/providers/Microsoft\.CognitiveServices/deletedAccounts$", re.I)
_OPERATION = re.compile(r"^/fake-operations/(?P<op>[^/]+)$")


@dataclass
class RecordedRequest:
    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]


@dataclass
class FakeArm:
    token: str = "fake-arm-token"
    requests: list[RecordedRequest] = field(default_factory=list)
    # (sub, location, rg, name) lower-cased -> number of GETs still answering 404 before it becomes visible
    _deleted: dict[tuple[str, str, str, str], int] = field(default_factory=dict)
    purged: list[tuple[str, str, str, str]] = field(default_factory=list)
    fail_purge_with: int | None = None
    _server: ThreadingHTTPServer | None = None

    @property
    def endpoint(self) -> str:
        assert self._server is not None
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def soft_delete(self, sub: str, location: str, rg: str, name: str, *, visible_after_gets: int = 0) -> None:
        """Put an account in the soft-deleted state (optionally invisible for the first few GETs)."""
        self._deleted[_key(sub, location, rg, name)] = visible_after_gets

    def is_soft_deleted(self, sub: str, location: str, rg: str, name: str) -> bool:
        return _key(sub, location, rg, name) in self._deleted

    def start(self) -> FakeArm:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: object) -> None:  # keep test output quiet
                pass

            def _record(self) -> tuple[str, dict[str, list[str]]]:
                parts = urlsplit(self.path)
                fake.requests.append(
                    RecordedRequest(self.command, parts.path, parse_qs(parts.query), {k: v for k, v in self.headers.items()})
                )
                return parts.path, parse_qs(parts.query)

            def _send(self, status: int, body: object | None = None, headers: dict[str, str] | None = None) -> None:
                data = b"" if body is None else json.dumps(body).encode()
                self.send_response(status)
                for key, value in (headers or {}).items():
                    self.send_header(key, value)
                if body is not None:
                    self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def _authorized(self) -> bool:
                if self.headers.get("Authorization") != f"Bearer {fake.token}":
                    self._send(401, {"error": {"code": "AuthenticationFailed", "message": "bad or missing token"}})
                    return False
                return True

            def _not_found(self, name: str) -> None:
                self._send(404, {"error": {"code": "ResourceNotFound", "message": f"deleted account {name} not found"}})

            def do_GET(self) -> None:  # noqa: N802 (http.server API)
                path, _ = self._record()
                if not self._authorized():
                    return
                if m := _OPERATION.match(path):
                    self._send(200, {"status": "Succeeded"})
                    return
                if m := _DELETED_LIST.match(path):
                    items = [
                        _deleted_body(*key) for key, hidden in fake._deleted.items() if key[0] == m["sub"].lower() and hidden <= 0
                    ]
                    self._send(200, {"value": items})
                    return
                if m := _DELETED.match(path):
                    key = _key(m["sub"], m["loc"], m["rg"], m["name"])
                    if key not in fake._deleted:
                        self._not_found(m["name"])
                    elif fake._deleted[key] > 0:
                        fake._deleted[key] -= 1
                        self._not_found(m["name"])
                    else:
                        self._send(200, _deleted_body(*key))
                    return
                self._send(404, {"error": {"code": "NotFound", "message": path}})

            def do_DELETE(self) -> None:  # noqa: N802
                path, _ = self._record()
                if not self._authorized():
                    return
                m = _DELETED.match(path)
                if not m:
                    self._send(404, {"error": {"code": "NotFound", "message": path}})
                    return
                if fake.fail_purge_with:
                    self._send(fake.fail_purge_with, {"error": {"code": "AuthorizationFailed", "message": "no purge right"}})
                    return
                key = _key(m["sub"], m["loc"], m["rg"], m["name"])
                if fake._deleted.pop(key, None) is None:
                    self._not_found(m["name"])
                    return
                fake.purged.append(key)
                # Like Azure: 202 + Location, polled until done; retry-after-ms keeps the poller from sleeping 30 s.
                self._send(202, None, {"Location": f"{fake.endpoint}/fake-operations/purge-1", "retry-after-ms": "10"})

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()


def _key(sub: str, location: str, rg: str, name: str) -> tuple[str, str, str, str]:
    return (sub.lower(), location.lower(), rg.lower(), name.lower())


def _deleted_body(sub: str, location: str, rg: str, name: str) -> dict[str, object]:
    return {
        "id": f"/subscriptions/{sub}/providers/Microsoft.CognitiveServices/locations/{location}"
        f"/resourceGroups/{rg}/deletedAccounts/{name}",
        "name": name,
        "type": "Microsoft.CognitiveServices/deletedAccounts",
        "location": location,
        "kind": "OpenAI",
        "sku": {"name": "S0"},
        "properties": {
            "provisioningState": "Succeeded",
            "deletionDate": "2026-11-27T10:00:00Z",
            "scheduledPurgeDate": "2026-11-29T10:00:00Z",
        },
    }


@pytest.fixture
def fake_arm(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeArm]:
    """A running fake ARM plane, with the env pointing `pipeline.arm` at it (swap for the emulator later)."""
    from pipeline import arm, envnames

    fake = FakeArm().start()
    monkeypatch.setenv(envnames.AZURE_RESOURCE_MANAGER_ENDPOINT, fake.endpoint)
    monkeypatch.setenv(arm.ARM_TOKEN_ENV, fake.token)
    try:
        yield fake
    finally:
        fake.stop()

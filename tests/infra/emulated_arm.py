"""The emulator's ARM plane as the tests of `pipeline.arm` and the soft-delete guard use it: an account put in the
soft-deleted state through ARM itself, and the ARM calls made since, read from the emulator's request log.

Azure's replication lag (a just-deleted account is listed a moment later) and a refused purge are injected
faults (`kind: error`), so what the SDK sees is what Azure sends, in Azure's envelope.
"""
from __future__ import annotations

import re
from dataclasses import dataclass

import pytest

from pipeline.emulator import EmulatorServer
from tests import loopback

TOKEN = "emu-token"
API = {"api-version": "2025-09-01"}
_LOGGED = re.compile(r"^(?P<method>[A-Z]+) (?P<path>/subscriptions/\S+) -> (?P<status>\d+) ")
_DELETED = re.compile(r"/subscriptions/(?P<sub>[^/]+)/providers/Microsoft\.CognitiveServices/locations/(?P<loc>[^/]+)"
                      r"/resourceGroups/(?P<rg>[^/]+)/deletedAccounts/(?P<name>[^/]+)$", re.IGNORECASE)


@dataclass
class Call:
    method: str
    path: str
    status: int


@dataclass
class EmulatedArm:
    """The emulator plus what these tests ask of it: a soft-deleted account, and the ARM calls made since."""

    server: EmulatorServer
    caplog: pytest.LogCaptureFixture

    def soft_delete(self, sub: str, location: str, rg: str, name: str, *, visible_after_gets: int = 0) -> None:
        """Create the account through ARM and delete it; the first `visible_after_gets` GETs of the deleted
        account answer 404 (Azure lists a just-deleted account a moment later). Then forget these calls."""
        headers, base = {"Authorization": f"Bearer {TOKEN}"}, f"{self.server.url}/subscriptions/{sub}/resourceGroups/{rg}"
        loopback.put(base, params=API, headers=headers, json={"location": location}).raise_for_status()
        account = f"{base}/providers/Microsoft.CognitiveServices/accounts/{name}"
        loopback.put(account, params=API, headers=headers, json={
            "location": location, "kind": "OpenAI", "sku": {"name": "S0"},
            "properties": {"customSubDomainName": name}}).raise_for_status()
        loopback.delete(account, params=API, headers=headers).raise_for_status()
        if visible_after_gets:
            self.refuse("GET", f"/deletedAccounts/{name}$", 404, "ResourceNotFound", count=visible_after_gets)
        self.caplog.clear()

    def is_soft_deleted(self, sub: str, location: str, rg: str, name: str) -> bool:
        return self.server.state.accounts.get_deleted(sub, location, rg, name) is not None

    @property
    def requests(self) -> list[Call]:
        """The ARM calls the emulator served since the last `soft_delete` (injected faults are not served)."""
        calls = [_LOGGED.match(r.getMessage()) for r in self.caplog.records if r.name == "aoai_ft.emulator"]
        return [Call(m["method"], m["path"], int(m["status"])) for m in calls if m]

    @property
    def purged(self) -> list[tuple[str, str, str, str]]:
        return [(m["sub"], m["loc"], m["rg"], m["name"]) for call in self.requests
                if call.method == "DELETE" and call.status == 200 and (m := _DELETED.search(call.path))]

    def refuse(self, method: str, path_regex: str, status: int, code: str, *, count: int | None = None) -> None:
        """Answer such requests (the next `count` of them, or all) with `status` and Azure's envelope with `code`."""
        loopback.post(f"{self.server.url}/admin/faults", headers={"api-key": self.server.api_key}, json={
            "route": path_regex, "methods": [method], "kind": "error", "status": status, "code": code, "count": count,
        }).raise_for_status()

    def fired(self) -> list[int]:
        """How often each injected fault answered."""
        faults = loopback.get(f"{self.server.url}/admin/faults", headers={"api-key": self.server.api_key})
        return [rule["fired"] for rule in faults.json()["rules"]]

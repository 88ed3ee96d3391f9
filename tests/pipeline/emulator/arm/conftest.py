"""Fixtures for the ARM-plane tests: a fresh emulator per test, the real management SDK pointed at it over
http, a raw httpx client, and a validator of response bodies against the spec's definitions."""
from __future__ import annotations

import time
from typing import Any, Callable, Iterator

import httpx
import pytest
from azure.core.credentials import AccessToken
from azure.core.pipeline.policies import SansIOHTTPPolicy
from azure.mgmt.cognitiveservices import CognitiveServicesManagementClient
from openapi_schema_validator import OAS30Validator

from pipeline.emulator import EmulatorConfig, EmulatorServer
from pipeline.emulator.armspec import strict_schema
from pipeline.emulator.clock import Clock
from tests import loopback

TOKEN = "emulator-arm-token"
API_VERSION = "2025-06-01"


class StaticCredential:
    """What `azure-identity` would hand the SDK, minus Entra ID."""

    def __init__(self, token: str = TOKEN) -> None:
        self.token = token
        self.scopes: list[tuple[str, ...]] = []

    def get_token(self, *scopes: str, **_: Any) -> AccessToken:
        self.scopes.append(scopes)
        return AccessToken(self.token, int(time.time()) + 3600)


class AllowHttp(SansIOHTTPPolicy):
    """azure-core only sends bearer tokens over http when each request says enforce_https=False."""

    def on_request(self, request) -> None:  # type: ignore[no-untyped-def]
        request.context.options["enforce_https"] = False


@pytest.fixture
def emulator_factory() -> Iterator[Callable[..., EmulatorServer]]:
    started: list[EmulatorServer] = []

    def start(clock: Clock | None = None, **overrides: Any) -> EmulatorServer:
        settings: dict[str, Any] = {"port": 0, "log_requests": False, "deployment_seconds": 0.2, **overrides}
        server = EmulatorServer(EmulatorConfig(**settings), clock=clock).start()
        started.append(server)
        return server

    yield start
    for server in started:
        server.stop()


@pytest.fixture
def emu(emulator_factory: Callable[..., EmulatorServer]) -> EmulatorServer:
    return emulator_factory()


@pytest.fixture
def sub(emu: EmulatorServer) -> str:
    return emu.config.subscription_id


@pytest.fixture
def rg(emu: EmulatorServer) -> str:
    return emu.config.default_resource_group


@pytest.fixture
def mgmt(emu: EmulatorServer) -> Iterator[CognitiveServicesManagementClient]:
    client = CognitiveServicesManagementClient(
        StaticCredential(), emu.config.subscription_id, base_url=emu.url, per_call_policies=[AllowHttp()],
    )
    with client:
        yield client


@pytest.fixture
def arm(emu: EmulatorServer) -> Iterator[httpx.Client]:
    with loopback.Client(base_url=emu.url, headers={"Authorization": f"Bearer {TOKEN}"},
                         params={"api-version": API_VERSION}, timeout=10) as client:
        yield client


def account_path(sub: str, rg: str, name: str) -> str:
    return f"/subscriptions/{sub}/resourceGroups/{rg}/providers/Microsoft.CognitiveServices/accounts/{name}"


def openai_account_body(subdomain: str | None = None, **properties: Any) -> dict[str, Any]:
    props: dict[str, Any] = {"publicNetworkAccess": "Enabled", **properties}
    if subdomain:
        props["customSubDomainName"] = subdomain
    return {"location": "northcentralus", "kind": "OpenAI", "sku": {"name": "S0"}, "properties": props}


def assert_matches_spec(definition: str, body: Any) -> None:
    """Strict: enums enforced and no property the spec does not define (see pipeline.emulator.armspec)."""
    errors = sorted(OAS30Validator(strict_schema(definition)).iter_errors(body), key=str)
    assert not errors, f"{definition} body breaks the spec: " + "; ".join(
        f"{'/'.join(map(str, e.absolute_path))}: {e.message}" for e in errors[:5])


def insert_fine_tuned_model(emu: EmulatorServer, account: str, model_id: str) -> None:
    """A fine-tuned model as the data plane's jobs record it (table created if the data plane has not)."""
    db = emu.state.db
    db.ensure_schema(
        "CREATE TABLE IF NOT EXISTS fine_tuned_models (account TEXT NOT NULL, id TEXT NOT NULL, base_model TEXT, "
        "job_id TEXT, created_at REAL, deleted_at REAL)"
    )
    db.execute(
        "INSERT INTO fine_tuned_models (account, id, base_model, job_id, created_at, deleted_at) "
        "VALUES (?,?,?,?,?,NULL)",
        (account, model_id, model_id.split(".ft-")[0], "ftjob-test", time.time()),
    )


# Test modules cannot import from conftest (importlib import mode), so the helpers come as fixtures.
@pytest.fixture
def check_spec() -> Callable[[str, Any], None]:
    return assert_matches_spec


@pytest.fixture
def account_url(sub: str, rg: str) -> Callable[..., str]:
    def build(name: str, resource_group: str | None = None) -> str:
        return account_path(sub, resource_group or rg, name)
    return build


@pytest.fixture
def account_body() -> Callable[..., dict[str, Any]]:
    return openai_account_body


@pytest.fixture
def add_ft_model(emu: EmulatorServer) -> Callable[[str, str], None]:
    return lambda account, model_id: insert_fine_tuned_model(emu, account, model_id)

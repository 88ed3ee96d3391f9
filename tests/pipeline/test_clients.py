"""Connection settings from explicit values or the environment, and the two auth modes against the emulator."""
from __future__ import annotations

import ssl
import time

import openai
import pytest
from azure.core.credentials import AccessToken

from pipeline import envnames
from pipeline.clients import ENTRA_SCOPE, ConnectionSettings, openai_client, service_errors, tls_context
from pipeline.evals.client import evals_client
from pipeline.errors import ServiceError, UsageError


def test_from_env_reads_the_shared_names(monkeypatch) -> None:
    monkeypatch.setenv(envnames.AZURE_OPENAI_ENDPOINT, "https://x.openai.azure.com/")
    monkeypatch.setenv(envnames.AZURE_OPENAI_API_KEY, "sekrit-123")
    monkeypatch.setenv(envnames.OPENAI_API_VERSION, "2025-04-01-preview")
    s = ConnectionSettings.from_env()
    assert (s.endpoint, s.api_key.get_secret_value(), s.api_version) == (
        "https://x.openai.azure.com/", "sekrit-123", "2025-04-01-preview")
    assert "sekrit-123" not in repr(s)  # the key is a SecretStr
    assert ConnectionSettings.from_env(endpoint="http://127.0.0.1:1").endpoint == "http://127.0.0.1:1"


def test_defaults_and_blank_key(monkeypatch) -> None:
    monkeypatch.setenv(envnames.AZURE_OPENAI_ENDPOINT, "https://x.openai.azure.com/")
    monkeypatch.setenv(envnames.AZURE_OPENAI_API_KEY, "  ")
    s = ConnectionSettings.from_env()
    assert s.api_key is None and s.api_version == "2024-10-21" and s.max_retries == 5


def test_missing_or_bad_endpoint_is_a_usage_error() -> None:
    with pytest.raises(UsageError, match="no Azure OpenAI endpoint") as exc:
        ConnectionSettings.from_env({})
    assert envnames.AZURE_OPENAI_ENDPOINT in exc.value.hint
    with pytest.raises(UsageError, match="http"):
        ConnectionSettings.from_env({envnames.AZURE_OPENAI_ENDPOINT: "x.openai.azure.com"})


class _Credential:
    """A TokenCredential that records the scopes it was asked for."""

    def __init__(self) -> None:
        self.scopes: list[tuple[str, ...]] = []

    def get_token(self, *scopes: str, **kwargs) -> AccessToken:
        self.scopes.append(scopes)
        return AccessToken("entra-token", int(time.time()) + 3600)


def test_key_auth_against_emulator(emulator) -> None:
    client = openai_client(ConnectionSettings(endpoint=emulator.url, api_key=emulator.api_key))
    assert client.max_retries == 5
    assert any(m.id for m in client.models.list())


def test_keyless_uses_a_bearer_token_for_the_cognitive_services_scope(emulator) -> None:
    credential = _Credential()
    client = openai_client(ConnectionSettings(endpoint=emulator.url), credential=credential)
    assert any(m.id for m in client.models.list())
    assert credential.scopes and credential.scopes[0] == (ENTRA_SCOPE,)


def test_wrong_key_becomes_a_service_error_with_a_hint(emulator) -> None:
    client = openai_client(ConnectionSettings(endpoint=emulator.url, api_key="wrong", max_retries=0))
    with pytest.raises(ServiceError) as exc, service_errors("listing models"):
        client.models.list()
    assert "Access denied" in exc.value.message and "API key" in exc.value.hint
    assert isinstance(exc.value.__cause__, openai.AuthenticationError)


def test_clients_load_the_ca_bundle_once_and_keep_their_own_connections(emulator, monkeypatch) -> None:
    """Loading the CA bundle is most of a new client's cost (~30 ms of CPU): the process does it once, for every
    data-plane and evals client, and each client still verifies certificates and has its own connection pool."""
    loads: list[object] = []
    load = ssl.SSLContext.load_verify_locations

    def counted(self: ssl.SSLContext, *args: object, **kwargs: object) -> None:
        loads.append(args or kwargs)
        load(self, *args, **kwargs)

    monkeypatch.setattr(ssl.SSLContext, "load_verify_locations", counted)
    tls_context.cache_clear()
    settings = ConnectionSettings(endpoint=emulator.url, api_key=emulator.api_key)
    clients = [openai_client(settings) for _ in range(3)]
    for client in clients:
        assert any(m.id for m in client.models.list())
    evals = evals_client(settings)
    assert evals.evals.list().data == []
    assert len(loads) == 1
    assert len({id(c._client) for c in [*clients, evals]}) == 4
    assert tls_context().verify_mode == ssl.CERT_REQUIRED and tls_context().check_hostname

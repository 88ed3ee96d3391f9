"""Data-plane access as Azure decides it: network rules, then the credential, then the caller's roles.

The identity is real azure-identity (ManagedIdentityCredential through `pipeline.credentials`, App Service flavour)
talking to the emulator's managed-identity endpoint; roles are assigned through the emulator's ARM plane."""
from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import openai
import pytest

from pipeline.clients import ConnectionSettings, openai_client
from pipeline.credentials import azure_credential
from pipeline.emulator import EmulatorConfig, EmulatorServer
from pipeline.emulator.clock import ManualClock
from pipeline.emulator.config import EmulatedPrincipal
from pipeline.emulator.dataplane.access import FIREWALL_DENIED, PERMISSION_DENIED, PUBLIC_ACCESS_DISABLED
from tests import loopback
from tests.pipeline.emulator.conftest import put_deployment

ARM_TOKEN = "operator-token"
RUNNER = EmulatedPrincipal(object_id="3a7c1f00-0000-4000-8000-00000000c1c1", client_id="c1c1c1c1-0000-4000-8000-000000000001")
MEMBER = EmulatedPrincipal(object_id="3a7c1f00-0000-4000-8000-00000000abab", client_id="abababab-0000-4000-8000-000000000002",
                           groups=["6e0e0000-0000-4000-8000-00000000beef"])
OPENAI_USER = "5e0bd9bd-7b93-4f28-af87-19fc36ad61bd"
READER = "acdd72a7-3385-48ef-bd42-f606fba81ae7"
DEPLOYMENT = "gpt-4o-mini-ft"


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock()


@pytest.fixture
def emu(clock: ManualClock) -> Iterator[EmulatorServer]:
    server = EmulatorServer(EmulatorConfig(port=0, log_requests=False, arm_token=ARM_TOKEN, principals=[RUNNER, MEMBER],
                                           role_propagation_seconds=30), clock=clock).start()
    put_deployment(server, DEPLOYMENT, "gpt-4o-mini")
    try:
        yield server
    finally:
        server.stop()


def managed_identity(emu: EmulatorServer, monkeypatch: pytest.MonkeyPatch, client_id: str | None = None) -> Any:
    monkeypatch.setenv("IDENTITY_ENDPOINT", f"{emu.url}/identity/token")
    monkeypatch.setenv("IDENTITY_HEADER", emu.config.identity_header)
    env = {"ARM_USE_MSI": "true", **({"ARM_CLIENT_ID": client_id} if client_id else {})}
    return azure_credential(env)


def entra_client(emu: EmulatorServer, credential: Any, endpoint: str | None = None) -> openai.AzureOpenAI:
    return openai_client(ConnectionSettings(endpoint=endpoint or emu.url, max_retries=0, timeout=10),
                         credential=credential)


def ask(client: openai.AzureOpenAI) -> str:
    completion = client.chat.completions.create(model=DEPLOYMENT, messages=[{"role": "user", "content": "hi"}])
    return completion.choices[0].message.content or ""


def assign(emu: EmulatorServer, principal: str, role: str = OPENAI_USER, scope: str | None = None,
           principal_type: str = "ServicePrincipal") -> httpx.Response:
    account = emu.state.accounts.get(emu.config.default_account)
    scope = scope or account.arm_id
    name = uuid.uuid5(uuid.NAMESPACE_URL, f"{scope}|{principal}|{role}")
    return loopback.put(f"{emu.url}{scope}/providers/Microsoft.Authorization/roleAssignments/{name}",
                        params={"api-version": "2022-04-01"}, headers={"Authorization": f"Bearer {ARM_TOKEN}"},
                        json={"properties": {"principalId": principal, "principalType": principal_type,
                                          "roleDefinitionId": f"/subscriptions/{emu.config.subscription_id}/providers/"
                                                              f"Microsoft.Authorization/roleDefinitions/{role}"}})


def test_managed_identity_needs_a_propagated_data_role(emu: EmulatorServer, clock: ManualClock,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    client = entra_client(emu, managed_identity(emu, monkeypatch))
    with pytest.raises(openai.AuthenticationError) as denied:
        ask(client)
    assert denied.value.status_code == 401
    assert denied.value.body == {"code": "PermissionDenied", "message": PERMISSION_DENIED}

    assert assign(emu, RUNNER.object_id, READER).status_code == 201  # control-plane roles carry no data actions
    assert assign(emu, RUNNER.object_id).status_code == 201
    with pytest.raises(openai.AuthenticationError):
        ask(client)  # assigned, not propagated yet
    clock.advance(31)
    assert ask(client)


def test_user_assigned_identity_and_group_membership(emu: EmulatorServer, clock: ManualClock,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    client = entra_client(emu, managed_identity(emu, monkeypatch, client_id=MEMBER.client_id))
    group = MEMBER.groups[0]
    resource_group = f"/subscriptions/{emu.config.subscription_id}/resourceGroups/{emu.config.default_resource_group}"
    assert assign(emu, group, scope=resource_group, principal_type="Group").status_code == 201
    clock.advance(31)
    assert ask(client)  # a group's role, at a scope above the account, applies to its members
    runner = entra_client(emu, managed_identity(emu, monkeypatch))
    with pytest.raises(openai.AuthenticationError):
        ask(runner)  # ... and to nobody else


def test_openai_user_may_read_and_chat_but_not_upload(emu: EmulatorServer, clock: ManualClock,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    client = entra_client(emu, managed_identity(emu, monkeypatch))
    assign(emu, RUNNER.object_id)
    clock.advance(31)
    assert client.files.list().data == []
    with pytest.raises(openai.AuthenticationError):
        client.files.create(file=("t.jsonl", b"{}\n"), purpose="fine-tune")


def test_with_an_arm_token_only_that_token_or_an_issued_one_passes(emu: EmulatorServer) -> None:
    url = f"{emu.url}/openai/models"
    params = {"api-version": "2024-10-21"}
    assert loopback.get(url, params=params, headers={"Authorization": f"Bearer {ARM_TOKEN}"}).status_code == 200
    forged = loopback.get(url, params=params, headers={"Authorization": "Bearer anything"})
    assert forged.status_code == 401 and "Access token is missing, invalid" in forged.json()["error"]["message"]
    arm_token = loopback.get(f"{emu.url}/identity/token", params={"resource": "https://management.azure.com"},
                             headers={"X-IDENTITY-HEADER": emu.config.identity_header}).json()["access_token"]
    wrong_audience = loopback.get(url, params=params, headers={"Authorization": f"Bearer {arm_token}"})
    assert wrong_audience.status_code == 401
    sub = loopback.get(f"{emu.url}/subscriptions/{emu.config.subscription_id}", params={"api-version": "2022-09-01"},
                       headers={"Authorization": f"Bearer {arm_token}"})
    assert sub.status_code == 200  # the same token is good for ARM, whose audience it names
    no_header = loopback.get(f"{emu.url}/identity/token", params={"resource": "https://cognitiveservices.azure.com"})
    assert no_header.status_code == 401 and "error" in no_header.json()


def test_without_an_arm_token_any_bearer_still_passes() -> None:
    with EmulatorServer(EmulatorConfig(port=0, log_requests=False)) as server:
        response = loopback.get(f"{server.url}/openai/models", params={"api-version": "2024-10-21"},
                                headers={"Authorization": "Bearer whatever"})
        assert response.status_code == 200


def set_network(emu: EmulatorServer, **properties: Any) -> None:
    account = emu.state.accounts.get(emu.config.default_account)
    account.properties.update(properties)
    emu.state.accounts.upsert(account)


@pytest.mark.parametrize(("properties", "message"), [
    ({"publicNetworkAccess": "Disabled"}, PUBLIC_ACCESS_DISABLED),
    ({"networkAcls": {"defaultAction": "Deny", "ipRules": [{"value": "203.0.113.0/24"}]}}, FIREWALL_DENIED),
])
def test_network_rules_refuse_the_caller_even_with_a_valid_key(emu: EmulatorServer, properties: dict[str, Any],
                                                               message: str) -> None:
    set_network(emu, **properties)
    response = loopback.post(f"{emu.url}/openai/deployments/{DEPLOYMENT}/chat/completions",
                             params={"api-version": "2024-10-21"}, headers={"api-key": emu.api_key},
                             json={"messages": [{"role": "user", "content": "hi"}]})
    assert response.status_code == 403
    assert response.json() == {"error": {"code": "403", "message": message}}


def test_an_allowed_ip_or_a_private_endpoint_caller_gets_in(emu: EmulatorServer) -> None:
    set_network(emu, networkAcls={"defaultAction": "Deny", "ipRules": [{"value": "127.0.0.0/8"}]})
    headers = {"api-key": emu.api_key}
    assert loopback.get(f"{emu.url}/openai/models", params={"api-version": "2024-10-21"}, headers=headers).status_code == 200
    set_network(emu, publicNetworkAccess="Disabled")
    emu.config.private_endpoint_clients.append("127.0.0.1")
    assert loopback.get(f"{emu.url}/openai/models", params={"api-version": "2024-10-21"}, headers=headers).status_code == 200

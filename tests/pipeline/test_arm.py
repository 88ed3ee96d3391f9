"""pipeline.arm against the emulator's ARM plane: what the real management SDK sends, and the purge logic."""
from __future__ import annotations

import time

import pytest

from pipeline import arm, envnames
from pipeline.errors import ServiceError, UsageError
from tests.infra.emulated_arm import TOKEN, EmulatedArm

SUB = "11111111-2222-3333-4444-555555555555"
WHERE = dict(location="northcentralus", resource_group="rg-a", account_name="aoai-ft-1234abcd")


def _client() -> object:
    return arm.management_client(SUB, polling_interval=0)


def test_find_deleted_account_none_then_found(emulated_arm: EmulatedArm) -> None:
    client = _client()
    assert arm.find_deleted_account(client, **WHERE) is None
    emulated_arm.soft_delete(SUB, "northcentralus", "rg-a", "aoai-ft-1234abcd")
    found = arm.find_deleted_account(client, **WHERE)
    assert found is not None and found.name == "aoai-ft-1234abcd" and found.kind == "OpenAI"
    request = emulated_arm.requests[-1]
    assert request.method == "GET" and request.status == 200
    assert request.path == (
        f"/subscriptions/{SUB}/providers/Microsoft.CognitiveServices/locations/northcentralus"
        "/resourceGroups/rg-a/deletedAccounts/aoai-ft-1234abcd"
    )
    # The emulator requires an api-version and exactly this bearer token (sent over http thanks to AllowHttpPolicy).
    assert emulated_arm.server.config.arm_token == TOKEN


def test_purge_deletes_the_account(emulated_arm: EmulatedArm) -> None:
    emulated_arm.soft_delete(SUB, "northcentralus", "rg-a", "aoai-ft-1234abcd")
    started = time.monotonic()
    assert arm.purge_deleted_account(_client(), **WHERE, wait_seconds=0) is True
    assert time.monotonic() - started < 10
    assert not emulated_arm.is_soft_deleted(SUB, "northcentralus", "rg-a", "aoai-ft-1234abcd")
    assert emulated_arm.purged == [(SUB, "northcentralus", "rg-a", "aoai-ft-1234abcd")]


def test_purge_waits_for_the_delete_to_surface(emulated_arm: EmulatedArm) -> None:
    emulated_arm.soft_delete(SUB, "northcentralus", "rg-a", "aoai-ft-1234abcd", visible_after_gets=2)
    naps: list[float] = []
    assert arm.purge_deleted_account(_client(), **WHERE, wait_seconds=30, poll_seconds=0.5, sleep=naps.append) is True
    assert naps == [0.5, 0.5]
    assert emulated_arm.purged == [(SUB, "northcentralus", "rg-a", "aoai-ft-1234abcd")]


def test_purge_of_nothing_returns_false_without_deleting(emulated_arm: EmulatedArm) -> None:
    assert arm.purge_deleted_account(_client(), **WHERE, wait_seconds=0) is False
    assert [r.method for r in emulated_arm.requests] == ["GET"]


def test_forbidden_purge_is_a_service_error_with_a_hint(emulated_arm: EmulatedArm) -> None:
    emulated_arm.soft_delete(SUB, "northcentralus", "rg-a", "aoai-ft-1234abcd")
    emulated_arm.refuse("DELETE", "/deletedAccounts/", 403, "AuthorizationFailed")
    with pytest.raises(ServiceError) as info:
        arm.purge_deleted_account(_client(), **WHERE, wait_seconds=0)
    assert "403" in info.value.message and "AuthorizationFailed" in info.value.message
    assert "Contributor" in (info.value.hint or "")


def test_wrong_token_is_reported(emulated_arm: EmulatedArm, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(arm.ARM_TOKEN_ENV, "wrong")
    with pytest.raises(ServiceError, match="401"):
        arm.find_deleted_account(_client(), **WHERE)


def test_no_azure_credentials_over_plain_http(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(envnames.AZURE_RESOURCE_MANAGER_ENDPOINT, "http://127.0.0.1:9")
    with pytest.raises(UsageError, match="plain-http"):
        arm.management_client(SUB)


def test_endpoint_selection(monkeypatch: pytest.MonkeyPatch) -> None:
    assert arm.arm_endpoint() == "https://management.azure.com"
    monkeypatch.setenv(envnames.AZURE_RESOURCE_MANAGER_ENDPOINT, "http://127.0.0.1:8000/")
    assert arm.arm_endpoint() == "http://127.0.0.1:8000"
    with pytest.raises(UsageError, match="not an http"):
        arm.arm_endpoint("127.0.0.1:8000")
    with pytest.raises(UsageError, match="subscription"):
        arm.management_client("")


def test_default_credential_for_azure(monkeypatch: pytest.MonkeyPatch) -> None:
    from azure.identity import DefaultAzureCredential

    assert isinstance(arm.make_credential("https://management.azure.com"), DefaultAzureCredential)
    monkeypatch.setenv(arm.ARM_TOKEN_ENV, "t0k")
    credential = arm.make_credential("http://127.0.0.1:1")
    assert credential.get_token("https://management.azure.com/.default").token == "t0k"
    with pytest.raises(UsageError):
        arm.StaticTokenCredential("")


def test_missing_azure_login_gets_an_az_login_hint(emulated_arm: EmulatedArm) -> None:
    from azure.core.exceptions import ClientAuthenticationError

    class NoLogin:
        def get_token(self, *scopes: str, **kwargs: object) -> object:
            raise ClientAuthenticationError("DefaultAzureCredential failed to retrieve a token")

    client = arm.management_client(SUB, credential=NoLogin())
    with pytest.raises(ServiceError) as info:
        arm.find_deleted_account(client, **WHERE)
    assert "az login" in (info.value.hint or "")

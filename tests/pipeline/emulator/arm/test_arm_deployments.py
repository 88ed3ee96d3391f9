"""Deployments: the SDK's long-running create finishing in about a second, the lab's raw Task 8 PUT,
Creating -> Succeeded on the clock, 409 for concurrent writes, model checks, delete."""
from __future__ import annotations

import json
import time

import pytest
import requests
from azure.core.exceptions import HttpResponseError, ResourceNotFoundError
from azure.core.pipeline.transport import RequestsTransport
from azure.mgmt.cognitiveservices.models import Deployment, DeploymentModel, DeploymentProperties, Sku

from pipeline.emulator.clock import ManualClock
from tests import loopback

FT_MODEL = "gpt-4o-mini-2024-07-18.ft-0e208cf33a6a466994aff31a08aba678"


def deployment(model: str = "gpt-4o-mini", version: str = "2024-07-18", sku: str = "Standard", **model_kw) -> Deployment:
    return Deployment(sku=Sku(name=sku, capacity=1), tags={"ttl": "2099-01-01T00:00:00Z"},
                      properties=DeploymentProperties(model=DeploymentModel(format="OpenAI", name=model,
                                                                            version=version, **model_kw)))


@pytest.fixture
def account(arm, account_url, account_body) -> str:
    assert arm.put(account_url("ft-dep"), json=account_body("ft-dep")).status_code == 201
    return "ft-dep"


class SleepRecordingTransport(RequestsTransport):
    """azure-core's own transport; the LRO poller waits between polls through its `sleep`."""

    def __init__(self) -> None:
        super().__init__()
        self.slept: list[float] = []

    def sleep(self, duration: float) -> None:
        self.slept.append(duration)
        super().sleep(duration)


def test_sdk_create_polls_to_succeeded_within_seconds(mgmt, rg, account, arm, account_url, check_spec):
    started = time.monotonic()
    created = mgmt.deployments.begin_create_or_update(rg, account, "chat", deployment()).result()
    elapsed = time.monotonic() - started

    assert elapsed < 5, f"the SDK poller waited {elapsed:.1f}s: Retry-After/Azure-AsyncOperation not honoured?"
    assert created.properties.provisioning_state == "Succeeded"
    assert created.properties.model.name == "gpt-4o-mini" and created.sku.name == "Standard"
    assert created.tags == {"ttl": "2099-01-01T00:00:00Z"}
    assert created.id == account_url(account) + "/deployments/chat"
    assert [d.name for d in mgmt.deployments.list(rg, account)] == ["chat"]

    check_spec("Deployment", arm.get(account_url(account) + "/deployments/chat").json())
    check_spec("DeploymentListResult", arm.get(account_url(account) + "/deployments").json())


def test_the_poller_comes_back_when_provisioning_is_done(emu, rg, account):
    """Provisioning takes 0.2 s here: the SDK sleeps once, for what is left of it (retry-after-ms), not for a whole
    second (Retry-After: 1) or its 30 s default."""
    from azure.mgmt.cognitiveservices import CognitiveServicesManagementClient

    from pipeline.arm import AllowHttpPolicy, StaticTokenCredential

    transport = SleepRecordingTransport()
    with CognitiveServicesManagementClient(StaticTokenCredential("t"), emu.config.subscription_id, base_url=emu.url,
                                           per_call_policies=[AllowHttpPolicy()], transport=transport) as mgmt:
        created = mgmt.deployments.begin_create_or_update(rg, account, "chat", deployment()).result()
    assert created.properties.provisioning_state == "Succeeded"
    # at most what was left of the 0.2 s when it asked (Retry-After: 1 would have made it sleep a whole second)
    assert sum(transport.slept) <= 0.2, transport.slept


def test_lab_task8_raw_put_is_accepted_as_is(emu, rg, account, add_ft_model):
    """The lab's cell, verbatim apart from the host: requests.put with api-version 2023-05-01."""
    add_ft_model(account, FT_MODEL)
    token = "token-from-az-account-get-access-token"
    deploy_params = {"api-version": "2023-05-01"}
    deploy_headers = {"Authorization": "Bearer {}".format(token), "Content-Type": "application/json"}
    deploy_data = {
        "sku": {"name": "standard", "capacity": 1},
        "properties": {"model": {"format": "OpenAI", "name": FT_MODEL, "version": "1"}},
    }
    deploy_data = json.dumps(deploy_data)
    request_url = (f"{emu.url}/subscriptions/{emu.config.subscription_id}/resourceGroups/{rg}/providers/"
                   f"Microsoft.CognitiveServices/accounts/{account}/deployments/gpt-4o-mini-2024-07-18-ft")
    r = requests.put(request_url, params=deploy_params, headers=deploy_headers, data=deploy_data, timeout=10)

    assert r.status_code == 201, r.text
    assert r.reason == "Created"
    body = r.json()
    assert body["properties"]["provisioningState"] == "Creating"
    assert body["properties"]["model"] == {"format": "OpenAI", "name": FT_MODEL, "version": "1"}
    assert body["sku"] == {"name": "Standard", "capacity": 1}
    assert r.headers["retry-after-ms"] == "200" and "Retry-After" not in r.headers  # provisions in 0.2 s
    assert "/operationStatuses/" in r.headers["Azure-AsyncOperation"]


def test_provisioning_state_and_operation_status_follow_the_clock(emulator_factory, account_body):
    clock = ManualClock()
    emu = emulator_factory(clock=clock, deployment_seconds=30)
    sub, rg = emu.config.subscription_id, emu.config.default_resource_group
    base = f"/subscriptions/{sub}/resourceGroups/{rg}/providers/Microsoft.CognitiveServices/accounts/ft-clock"
    with loopback.Client(base_url=emu.url, headers={"Authorization": "Bearer t"},
                         params={"api-version": "2025-06-01"}) as arm:
        arm.put(base, json=account_body("ft-clock"))
        put = arm.put(base + "/deployments/d1", json={
            "sku": {"name": "GlobalStandard", "capacity": 2},
            "properties": {"model": {"format": "OpenAI", "name": "gpt-4.1-mini-2025-04-14"}},
        })
        assert put.status_code == 201
        operation = put.headers["Azure-AsyncOperation"]
        status = arm.get(operation)
        assert status.json()["status"] == "InProgress" and status.headers["Retry-After"] == "1"
        assert arm.get(base + "/deployments/d1").json()["properties"]["provisioningState"] == "Creating"

        clock.advance(29.75)  # under a second left: the poller is told to come back when it is done
        status = arm.get(operation)
        assert status.headers["retry-after-ms"] == "250" and "Retry-After" not in status.headers
        clock.advance(0.25)

        done = arm.get(operation).json()
        assert done["status"] == "Succeeded" and done["endTime"]
        assert arm.get(base + "/deployments/d1").json()["properties"]["provisioningState"] == "Succeeded"
        assert emu.state.deployments.get("ft-clock", "d1").provisioning_state(clock.now()) == "Succeeded"


def test_concurrent_writes_on_one_account_get_409(emulator_factory, account_body):
    clock = ManualClock()
    emu = emulator_factory(clock=clock, deployment_seconds=5)
    sub, rg = emu.config.subscription_id, emu.config.default_resource_group
    base = f"/subscriptions/{sub}/resourceGroups/{rg}/providers/Microsoft.CognitiveServices/accounts/ft-busy"
    body = {"sku": {"name": "Standard", "capacity": 1},
            "properties": {"model": {"format": "OpenAI", "name": "gpt-4o-mini-2024-07-18"}}}
    with loopback.Client(base_url=emu.url, headers={"Authorization": "Bearer t"},
                         params={"api-version": "2023-05-01"}) as arm:
        arm.put(base, json=account_body("ft-busy"))
        assert arm.put(base + "/deployments/a", json=body).status_code == 201

        second = arm.put(base + "/deployments/b", json=body)
        assert second.status_code == 409
        assert second.json()["error"]["code"] == "RequestConflict"
        assert "Another operation is being performed on the parent resource" in second.json()["error"]["message"]
        assert arm.delete(base + "/deployments/a").status_code == 409

        clock.advance(5)
        assert arm.put(base + "/deployments/b", json=body).status_code == 201
        clock.advance(5)
        assert arm.delete(base + "/deployments/a").status_code == 200
        assert [d["name"] for d in arm.get(base + "/deployments").json()["value"]] == ["b"]


def test_unknown_model_is_refused(mgmt, rg, account):
    with pytest.raises(HttpResponseError) as info:
        mgmt.deployments.begin_create_or_update(rg, account, "nope", deployment("gpt-99-turbo", "1")).result()
    assert info.value.status_code == 400
    assert info.value.error.code == "DeploymentModelNotSupported"
    assert "gpt-99-turbo" in info.value.error.message
    assert list(mgmt.deployments.list(rg, account)) == []


def test_fine_tuned_model_must_belong_to_the_account_or_its_source(mgmt, rg, arm, account, account_url,
                                                                    account_body, add_ft_model):
    arm.put(account_url("ft-trainer"), json=account_body("ft-trainer"))
    add_ft_model("ft-trainer", FT_MODEL)

    with pytest.raises(HttpResponseError) as info:
        mgmt.deployments.begin_create_or_update(rg, account, "ft", deployment(FT_MODEL, "1")).result()
    assert info.value.error.code == "DeploymentModelNotSupported"

    cross = mgmt.deployments.begin_create_or_update(
        rg, account, "ft", deployment(FT_MODEL, "1", source=account_url("ft-trainer"))).result()
    assert cross.properties.provisioning_state == "Succeeded"
    assert cross.properties.model.source == account_url("ft-trainer")

    with pytest.raises(HttpResponseError) as info:
        mgmt.deployments.begin_create_or_update(
            rg, account, "ft2", deployment(FT_MODEL, "1", source_account=account_url("ft-gone"))).result()
    assert info.value.status_code == 400 and "ft-gone" in info.value.error.message


@pytest.mark.parametrize("sku", ["DeveloperTier", "developertier", "GlobalStandard", "Standard"])
def test_fine_tuning_deployment_skus_are_accepted(mgmt, rg, account, add_ft_model, sku):
    add_ft_model(account, FT_MODEL)
    created = mgmt.deployments.begin_create_or_update(rg, account, "d", deployment(FT_MODEL, "1", sku=sku)).result()
    assert created.sku.name.lower() == sku.lower() and created.sku.name[0].isupper()


@pytest.mark.parametrize(
    ("body", "code"),
    [
        ({"sku": {"name": "Premium", "capacity": 1}, "properties": {"model": {"format": "OpenAI", "name": "gpt-4o-mini-2024-07-18"}}}, "InvalidResourceProperties"),
        ({"properties": {"model": {"format": "OpenAI", "name": "gpt-4o-mini-2024-07-18"}}}, "InvalidResourceProperties"),
        ({"sku": {"name": "Standard", "capacity": 1}, "properties": {}}, "InvalidResourceProperties"),
        ({"sku": {"name": "Standard", "capacity": "one"}, "properties": {"model": {"format": "OpenAI", "name": "x"}}}, "InvalidRequestContent"),
        ({"sku": {"name": "Standard", "capacity": 1}, "properties": {"model": {"format": "ONNX", "name": "gpt-4o-mini-2024-07-18"}}}, "DeploymentModelNotSupported"),
    ],
)
def test_bad_deployment_bodies(arm, account, account_url, body, code):
    response = arm.put(account_url(account) + "/deployments/bad", json=body)
    assert response.status_code == 400, response.text
    assert response.json()["error"]["code"] == code


def test_delete_patch_and_missing_parent(mgmt, rg, arm, account, account_url):
    mgmt.deployments.begin_create_or_update(rg, account, "gone-soon", deployment()).result()
    patched = arm.patch(account_url(account) + "/deployments/gone-soon", json={"tags": {"ttl": "2000-01-01T00:00:00Z"}})
    assert patched.status_code == 200 and patched.json()["tags"] == {"ttl": "2000-01-01T00:00:00Z"}
    assert mgmt.deployments.get(rg, account, "gone-soon").tags == {"ttl": "2000-01-01T00:00:00Z"}

    mgmt.deployments.begin_delete(rg, account, "gone-soon").result()
    with pytest.raises(ResourceNotFoundError):
        mgmt.deployments.get(rg, account, "gone-soon")
    assert arm.delete(account_url(account) + "/deployments/gone-soon").status_code == 204

    missing = arm.put(account_url("no-such-account") + "/deployments/x", json={})
    assert missing.status_code == 404 and missing.json()["error"]["code"] == "ParentResourceNotFound"


def test_deleting_the_account_removes_its_deployments(mgmt, rg, account, emu):
    mgmt.deployments.begin_create_or_update(rg, account, "chat", deployment()).result()
    mgmt.accounts.begin_delete(rg, account).result()
    assert emu.state.deployments.list(account) == []
    mgmt.accounts.begin_create(rg, account, {"location": "northcentralus", "kind": "OpenAI", "sku": {"name": "S0"},
                                             "properties": {"customSubDomainName": account, "restore": True}}).result()
    assert list(mgmt.deployments.list(rg, account)) == []


def test_accounts_and_deployments_survive_a_restart(tmp_path, emulator_factory, account_body):
    first = emulator_factory(data_dir=tmp_path)
    sub, rg = first.config.subscription_id, first.config.default_resource_group
    path = f"/subscriptions/{sub}/resourceGroups/{rg}/providers/Microsoft.CognitiveServices/accounts/ft-keep"
    with loopback.Client(base_url=first.url, headers={"Authorization": "Bearer t"}, params={"api-version": "1"}) as arm:
        arm.put(path, json=account_body("ft-keep"))
        arm.put(path + "/deployments/chat", json={"sku": {"name": "Standard", "capacity": 1}, "properties": {
            "model": {"format": "OpenAI", "name": "gpt-4o-mini-2024-07-18"}}})
        keys = arm.post(path + "/listKeys").json()
    first.stop()

    second = emulator_factory(data_dir=tmp_path)
    with loopback.Client(base_url=second.url, headers={"Authorization": "Bearer t"}, params={"api-version": "1"}) as arm:
        assert arm.post(path + "/listKeys").json() == keys
        deployed = arm.get(path + "/deployments/chat").json()
        assert deployed["properties"]["model"]["name"] == "gpt-4o-mini-2024-07-18"
        assert arm.get(path).json()["properties"]["endpoint"] == second.account_endpoint("ft-keep")


def test_endpoint_keys_and_deployment_work_with_the_openai_sdk(mgmt, rg, emu):
    """What ARM hands out (properties.endpoint, listKeys, a deployment name) is all the data plane needs."""
    from openai import AzureOpenAI, NotFoundError

    account = mgmt.accounts.begin_create(rg, "ft-e2e", {"location": "northcentralus", "kind": "OpenAI",
                                                         "sku": {"name": "S0"},
                                                         "properties": {"customSubDomainName": "ft-e2e"}}).result()
    keys = mgmt.accounts.list_keys(rg, "ft-e2e")
    mgmt.deployments.begin_create_or_update(rg, "ft-e2e", "chat", deployment()).result()

    client = AzureOpenAI(azure_endpoint=account.properties.endpoint, api_key=keys.key2, api_version="2024-10-21",
                         max_retries=0)
    answer = client.chat.completions.create(model="chat", messages=[{"role": "user", "content": "Hello?"}])
    assert answer.choices[0].message.content
    assert "gpt-4o-mini-2024-07-18" in {m.id for m in client.models.list()}

    mgmt.deployments.begin_delete(rg, "ft-e2e", "chat").result()
    with pytest.raises(NotFoundError):
        client.chat.completions.create(model="chat", messages=[{"role": "user", "content": "Hello?"}])

"""Deployments through the emulator's ARM plane with the real azure-mgmt-cognitiveservices SDK."""
from __future__ import annotations

import threading
import time

import pytest
from azure.core.exceptions import HttpResponseError, ODataV4Format

from pipeline.arm import StaticTokenCredential, management_client
from pipeline.chat import ask
from pipeline.deploy import DeploymentSpec, _retry_conflicts, delete_deployment, deploy_model
from pipeline.errors import ServiceError
from pipeline.finetune import FineTuneRequest, FineTuneResult, delete_fine_tuned_model, ensure_fine_tuned_model


@pytest.fixture
def arm(fast_emulator):
    return management_client(fast_emulator.config.subscription_id, endpoint=fast_emulator.url,
                             credential=StaticTokenCredential("emulator-token"), polling_interval=0.1)


@pytest.fixture
def trained(client, datasets_dir) -> FineTuneResult:
    return ensure_fine_tuned_model(client, FineTuneRequest(training_path=datasets_dir / "training_set.jsonl"),
                                   timeout=60, poll_interval=0.1)


def _spec(emu, name: str, model: str, **kw) -> DeploymentSpec:
    return DeploymentSpec(subscription_id=emu.config.subscription_id, resource_group=emu.config.default_resource_group,
                          account_name=emu.config.default_account, deployment_name=name, model=model, **kw)


def test_deploy_then_chat_answers_like_the_training_data(fast_emulator, client, arm, trained, datasets_dir) -> None:
    result = deploy_model(arm, _spec(fast_emulator, "teacher", trained.fine_tuned_model, tags={"owner": "tests"}),
                          timeout=30)
    assert result["properties"]["provisioning_state"] == "Succeeded"
    assert result["properties"]["model"] == {"format": "OpenAI", "name": trained.fine_tuned_model, "version": "1"}
    assert result["sku"] == {"name": "Standard", "capacity": 1} and result["tags"] == {"owner": "tests"}
    answer = ask(client, "teacher")
    assert answer and answer in datasets_dir.joinpath("training_set.jsonl").read_text(encoding="utf-8")
    # idempotent: deploying the same spec again is an update, not an error
    assert deploy_model(arm, _spec(fast_emulator, "teacher", trained.fine_tuned_model), timeout=30)["name"] == "teacher"


def test_concurrent_writes_on_one_account_are_retried(fast_emulator, arm, trained) -> None:
    results: dict[str, object] = {}

    def run(name: str) -> None:
        try:
            results[name] = deploy_model(arm, _spec(fast_emulator, name, trained.fine_tuned_model), timeout=30,
                                         retry_delay=0.1)
        except Exception as exc:  # reported below
            results[name] = exc

    threads = [threading.Thread(target=run, args=(n,)) for n in ("one", "two")]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert all(isinstance(r, dict) and r["properties"]["provisioning_state"] == "Succeeded"
               for r in results.values()), results


def test_unknown_model_is_refused_with_a_hint(fast_emulator, arm) -> None:
    with pytest.raises(ServiceError) as exc:
        deploy_model(arm, _spec(fast_emulator, "x", "gpt-4o-mini-2024-07-18.ft-00000000000000000000000000000000"),
                     timeout=10)
    assert exc.value.hint


def test_delete_deployment_then_model(fast_emulator, client, arm, trained) -> None:
    deploy_model(arm, _spec(fast_emulator, "teacher", trained.fine_tuned_model), timeout=30)
    with pytest.raises(ServiceError, match="cannot be deleted"):
        delete_fine_tuned_model(client, trained)  # still deployed
    rg, account = fast_emulator.config.default_resource_group, fast_emulator.config.default_account
    assert delete_deployment(arm, rg, account, "teacher", timeout=30) is True
    assert delete_deployment(arm, rg, account, "teacher", timeout=30) is False
    assert delete_fine_tuned_model(client, trained).model_deleted is True


def test_model_reference_names_base_models_by_family_and_date() -> None:
    from pipeline.deploy import is_fine_tuned, model_reference

    assert model_reference("gpt-4o-mini-2024-07-18") == ("gpt-4o-mini", "2024-07-18")
    assert model_reference("gpt-35-turbo-0125") == ("gpt-35-turbo", "0125")
    tuned = "gpt-4o-mini-2024-07-18.ft-0123456789abcdef-teacher"
    assert model_reference(tuned) == (tuned, "1") and is_fine_tuned(tuned)
    checkpoint = f"{tuned}:ckpt-step-20"
    assert model_reference(checkpoint) == (checkpoint, "1") and is_fine_tuned(checkpoint)
    assert not is_fine_tuned("gpt-4o-mini-2024-07-18")


def _conflict(code: str = "RequestConflict") -> HttpResponseError:
    """ARM's 409 as azure-core raises it (status and OData error code)."""
    exc = HttpResponseError(message=f"({code}) Another operation is being performed on the parent resource")
    exc.status_code = 409
    exc.error = ODataV4Format({"code": code, "message": "Another operation is being performed"})
    return exc


def _failing(times: int, code: str = "RequestConflict"):
    calls = {"n": 0}

    def action() -> str:
        calls["n"] += 1
        if calls["n"] <= times:
            raise _conflict(code)
        return "done"
    return action, calls


def test_conflicts_back_off_exponentially_up_to_the_cap() -> None:
    action, calls = _failing(6)
    sleeps: list[float] = []
    result = _retry_conflicts(action, what="deploy x", deadline=time.monotonic() + 1000, first_delay=2.0,
                              max_delay=30.0, sleep=sleeps.append)
    assert result == "done" and calls["n"] == 7
    assert sleeps == [2.0, 4.0, 8.0, 16.0, 30.0, 30.0]


def test_conflicts_past_the_deadline_give_up_with_what_to_do() -> None:
    action, calls = _failing(100)
    sleeps: list[float] = []
    with pytest.raises(ServiceError) as error:
        _retry_conflicts(action, what="deploy x", deadline=time.monotonic() + 10, first_delay=2.0,
                         sleep=sleeps.append)
    assert sleeps == [2.0, 4.0]  # waited 6 s: the next wait (8 s) would end past the deadline
    assert calls["n"] == 3
    assert error.value.message.startswith("could not deploy x: another operation kept the account busy")
    assert "wait for the other deployment change to finish" in error.value.hint


def test_other_409s_are_final() -> None:
    action, calls = _failing(1, code="ResourceNameAlreadyTaken")
    sleeps: list[float] = []
    with pytest.raises(ServiceError) as error:
        _retry_conflicts(action, what="deploy x", deadline=time.monotonic() + 1000, sleep=sleeps.append)
    assert calls["n"] == 1 and sleeps == []
    assert "ResourceNameAlreadyTaken" in error.value.message and "busy" not in error.value.message

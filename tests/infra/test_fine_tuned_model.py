"""The FineTunedModel and SmokeTest dynamic providers, called directly against the emulator over loopback,
after the same dill round trip Pulumi does (`serialize_provider` in the program, `dill.loads` in the provider
process), with property bags shaped like the engine's (numbers as floats, via Pulumi's own rpc serializer)."""
from __future__ import annotations

import asyncio
import base64
import shutil
from pathlib import Path
from typing import Any

import dill
import openai
import pytest
from pulumi.dynamic.dynamic import serialize_provider
from pulumi.runtime import rpc

from infra.fine_tuned_model import REPLACE_KEYS, FineTunedModelArgs, FineTunedModelProvider, resource_inputs
from pipeline.training_settings import TrainingSettings
from infra.smoke_test import SmokeTestProvider
from pipeline import envnames
from pipeline.chat import SMOKE_TEST_QUESTION
from pipeline.emulator import EmulatorServer
from pipeline.files import content_hash
from tests import loopback
from tests.pipeline.emulated import fired, make_client, start


def over_the_wire(provider: Any) -> Any:
    """What the provider process gets: Pulumi's serializer, then `dill.loads` as in pulumi.dynamic.__main__."""
    return dill.loads(base64.b64decode(serialize_provider(provider)))


def engine_props(props: dict[str, Any]) -> dict[str, Any]:
    """Props as the engine hands them to a dynamic provider (ints become floats, None-valued keys dropped)."""
    loop = asyncio.new_event_loop()  # like pulumi.dynamic.__main__; asyncio.run would unset the thread's loop
    try:
        struct = loop.run_until_complete(rpc.serialize_properties(props, {}))
    finally:
        loop.close()
    return rpc.deserialize_properties(struct)


@pytest.fixture
def data(tmp_path: Path, datasets_dir: Path) -> dict[str, Path]:
    files = {name: tmp_path / f"{name}_set.jsonl" for name in ("training", "validation")}
    for name, path in files.items():
        shutil.copy(datasets_dir / f"{name}_set.jsonl", path)
    return files


def account_id(emu: Any, name: str | None = None) -> str:
    config = emu.config
    return (f"/subscriptions/{config.subscription_id}/resourceGroups/{config.default_resource_group}"
            f"/providers/Microsoft.CognitiveServices/accounts/{name or config.default_account}")


@pytest.fixture(autouse=True)
def arm_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """The providers read endpoint and key through ARM: point ARM at the emulator (set per test by `use_arm`)."""
    monkeypatch.delenv(envnames.AZURE_RESOURCE_MANAGER_ENDPOINT, raising=False)
    monkeypatch.setenv(envnames.AZURE_RESOURCE_MANAGER_TOKEN, "test-arm-token")


def use_arm(monkeypatch: pytest.MonkeyPatch, emu: EmulatorServer) -> None:
    monkeypatch.setenv(envnames.AZURE_RESOURCE_MANAGER_ENDPOINT, emu.url)


def model_props(emu: Any, data: dict[str, Path], **overrides: Any) -> dict[str, Any]:
    """The inputs the program registers for these files on the emulator's account, as the engine hands them over."""
    props = resource_inputs(FineTunedModelArgs(
        account_id=account_id(emu), training_path=str(data["training"]), training_sha256=content_hash(data["training"]),
        validation_path=str(data["validation"]), validation_sha256=content_hash(data["validation"]),
        training=TrainingSettings(n_epochs=2, suffix="teacher", seed=42), timeout_minutes=2, poll_seconds=0.1))
    return engine_props({**props, **overrides})


def make_account(emu: EmulatorServer, name: str, *, keyless: bool = False) -> str:
    """A second account on the emulator's ARM plane (own data plane, own jobs); returns its ARM id."""
    from azure.mgmt.cognitiveservices.models import Account, AccountProperties, Sku

    from pipeline.arm import StaticTokenCredential, management_client

    config = emu.config
    arm = management_client(config.subscription_id, endpoint=emu.url, credential=StaticTokenCredential("t"),
                            polling_interval=0.05)
    arm.accounts.begin_create(config.default_resource_group, name, Account(
        kind="OpenAI", sku=Sku(name="S0"), location=config.location,
        properties=AccountProperties(custom_sub_domain_name=name, disable_local_auth=keyless),
    )).result()
    return account_id(emu, name)


def test_create_trains_then_a_second_create_adopts(fast_emulator, data, monkeypatch) -> None:
    use_arm(monkeypatch, fast_emulator)
    provider = over_the_wire(FineTunedModelProvider())
    props = model_props(fast_emulator, data)
    first = provider.create(props)
    outs = first.outs
    assert first.id == outs["job_id"]
    assert outs["fine_tuned_model"].startswith("gpt-4o-mini-2024-07-18.ft-") and outs["fine_tuned_model"].endswith("-teacher")
    assert outs["training_file_id"] and outs["validation_file_id"] and outs["trained_tokens"] > 0
    assert fast_emulator.api_key not in repr(outs)  # the key is read through ARM per call, never kept in state

    client = make_client(fast_emulator)
    job = client.fine_tuning.jobs.retrieve(first.id)
    assert job.status == "succeeded" and job.seed == 42 and job.hyperparameters.n_epochs == 2

    again = over_the_wire(FineTunedModelProvider()).create(props)  # e.g. a create retried after a lost state
    assert again.id == first.id and again.outs["fine_tuned_model"] == outs["fine_tuned_model"]
    assert len(list(client.fine_tuning.jobs.list())) == 1
    assert len(list(client.files.list(purpose="fine-tune"))) == 2

    read = provider.read(first.id, engine_props(outs))
    assert read.id == first.id and read.outs["fine_tuned_model"] == outs["fine_tuned_model"]


def test_diff_replaces_only_for_account_content_or_training_settings(data, tmp_path) -> None:
    provider = over_the_wire(FineTunedModelProvider())
    fake = type("Emu", (), {"config": type("C", (), {"subscription_id": "00000000-0000-0000-0000-000000000000",
                                                     "default_resource_group": "rg", "default_account": "a"})})()
    olds = {**model_props(fake, data), "fine_tuned_model": "m", "job_id": "ftjob-1", "__provider": "x"}

    same = provider.diff("ftjob-1", olds, model_props(fake, data))
    assert same.changes is False and same.replaces == []

    moved = tmp_path / "elsewhere.jsonl"
    shutil.copy(data["training"], moved)
    operational = provider.diff("ftjob-1", olds, model_props(fake, data, training_path=str(moved), timeout_minutes=30,
                                                             poll_seconds=3, api_version="2025-04-01-preview"))
    assert operational.changes is False and operational.replaces == []  # nothing to preview, nothing retrains

    for key, value in [("base_model", "gpt-4.1-mini-2025-04-14"), ("hyperparameters", {"n_epochs": 3}),
                       ("suffix", "other"), ("seed", 7), ("account_id", account_id(fake, "another"))]:
        result = provider.diff("ftjob-1", olds, model_props(fake, data, **{key: value}))
        assert result.changes is True and result.replaces == [key], key
        assert key in REPLACE_KEYS

    data["training"].write_text(data["training"].read_text() + data["training"].read_text().splitlines()[0] + "\n")
    new_content = provider.diff("ftjob-1", olds, model_props(fake, data))
    assert new_content.replaces == ["training_sha256"]


def test_another_account_trains_there_and_the_old_model_is_deleted_from_its_own(fast_emulator, data,
                                                                                 monkeypatch) -> None:
    """Changing location/group/prefix replaces the account; the model follows it (replace = train in the new one)."""
    use_arm(monkeypatch, fast_emulator)
    old = over_the_wire(FineTunedModelProvider()).create(model_props(fast_emulator, data)).outs
    other_id = make_account(fast_emulator, "aoai-ft-moved")
    new = over_the_wire(FineTunedModelProvider()).create(model_props(fast_emulator, data, account_id=other_id)).outs
    assert new["job_id"] != old["job_id"] and new["fine_tuned_model"] != old["fine_tuned_model"]

    from pipeline.clients import openai_client
    from pipeline.connection import account_connection

    moved_client = openai_client(account_connection(other_id))
    assert {m.id for m in moved_client.models.list()} >= {new["fine_tuned_model"]}
    assert old["fine_tuned_model"] not in {m.id for m in moved_client.models.list()}

    over_the_wire(FineTunedModelProvider()).delete(old["job_id"], engine_props(old))  # replace deletes the old one
    assert old["fine_tuned_model"] not in {m.id for m in make_client(fast_emulator).models.list()}
    assert new["fine_tuned_model"] in {m.id for m in moved_client.models.list()}


def test_a_rotated_key_changes_nothing_and_later_calls_use_the_new_key(fast_emulator, data, monkeypatch) -> None:
    use_arm(monkeypatch, fast_emulator)
    created = over_the_wire(FineTunedModelProvider()).create(model_props(fast_emulator, data))

    config = fast_emulator.config
    rotate = (f"{fast_emulator.url}/subscriptions/{config.subscription_id}/resourceGroups/"
              f"{config.default_resource_group}/providers/Microsoft.CognitiveServices/accounts/"
              f"{config.default_account}/regenerateKey?api-version=2024-10-01")
    for key_name in ("Key1", "Key2"):
        response = loopback.post(rotate, json={"keyName": key_name}, headers={"Authorization": "Bearer t"})
        assert response.status_code == 200, response.text
    with pytest.raises(openai.AuthenticationError):  # the old key no longer works
        make_client(fast_emulator, max_retries=0).models.list()

    provider = over_the_wire(FineTunedModelProvider())
    assert provider.diff(created.id, created.outs, model_props(fast_emulator, data)).changes is False
    assert provider.read(created.id, engine_props(created.outs)).id == created.id
    provider.delete(created.id, engine_props(created.outs))


def test_update_keeps_the_trained_result() -> None:
    provider = over_the_wire(FineTunedModelProvider())
    olds = {"account_id": "a", "fine_tuned_model": "m", "job_id": "j", "training_file_id": "f"}
    outs = provider.update("j", olds, {"account_id": "a", "timeout_minutes": 5}).outs
    assert outs["timeout_minutes"] == 5
    assert outs["fine_tuned_model"] == "m" and outs["job_id"] == "j" and outs["training_file_id"] == "f"


def test_delete_removes_model_and_files(fast_emulator, data, monkeypatch) -> None:
    use_arm(monkeypatch, fast_emulator)
    provider = over_the_wire(FineTunedModelProvider())
    created = provider.create(model_props(fast_emulator, data))
    client = make_client(fast_emulator)
    assert created.outs["fine_tuned_model"] in {m.id for m in client.models.list()}

    over_the_wire(FineTunedModelProvider()).delete(created.id, engine_props(created.outs))
    assert created.outs["fine_tuned_model"] not in {m.id for m in client.models.list()}
    for key in ("training_file_id", "validation_file_id", "result_file_id"):
        with pytest.raises(openai.NotFoundError):
            client.files.retrieve(created.outs[key])
    assert list(client.files.list(purpose="fine-tune")) == []


def test_delete_and_read_after_the_account_is_gone(fast_emulator, data, monkeypatch) -> None:
    use_arm(monkeypatch, fast_emulator)
    other_id = make_account(fast_emulator, "aoai-ft-gone")
    created = over_the_wire(FineTunedModelProvider()).create(model_props(fast_emulator, data, account_id=other_id))
    from pipeline.arm import StaticTokenCredential, management_client

    config = fast_emulator.config
    arm = management_client(config.subscription_id, endpoint=fast_emulator.url, credential=StaticTokenCredential("t"),
                            polling_interval=0.05)
    arm.accounts.begin_delete(config.default_resource_group, "aoai-ft-gone").result()
    provider = over_the_wire(FineTunedModelProvider())
    assert provider.read(created.id, engine_props(created.outs)).id == ""  # gone: Pulumi drops it on refresh
    provider.delete(created.id, engine_props(created.outs))  # nothing left to delete is not an error


def test_keyless_create_uses_an_entra_token(fast_emulator, data, monkeypatch) -> None:
    """An account with local auth disabled: no key is read; the client asks azure-identity for a token."""
    import azure.identity
    from azure.core.credentials import AccessToken

    use_arm(monkeypatch, fast_emulator)
    keyless_id = make_account(fast_emulator, "aoai-ft-keyless", keyless=True)
    scopes: list[tuple[str, ...]] = []

    class FakeDefaultCredential:
        def get_token(self, *wanted: str, **_: Any) -> AccessToken:
            scopes.append(wanted)
            return AccessToken("entra-token", 4_102_444_800)

    monkeypatch.setattr(azure.identity, "DefaultAzureCredential", FakeDefaultCredential)
    outs = over_the_wire(FineTunedModelProvider()).create(model_props(fast_emulator, data, account_id=keyless_id)).outs
    assert outs["fine_tuned_model"].startswith("gpt-4o-mini-2024-07-18.ft-")
    assert scopes and scopes[0] == ("https://cognitiveservices.azure.com/.default",)


def test_failed_training_surfaces_the_service_error(fast_emulator, data, monkeypatch) -> None:
    from pipeline.errors import PipelineError

    use_arm(monkeypatch, fast_emulator)
    provider = over_the_wire(FineTunedModelProvider())
    with pytest.raises(PipelineError) as info:
        provider.create(model_props(fast_emulator, data, base_model="gpt-does-not-exist"))
    assert "gpt-does-not-exist" in str(info.value)


def test_smoke_test_asks_the_deployment_and_reasks_on_change(fast_emulator, data, monkeypatch) -> None:
    from pipeline.arm import StaticTokenCredential, management_client
    from pipeline.deploy import DeploymentSpec, deploy_model

    use_arm(monkeypatch, fast_emulator)
    trained = over_the_wire(FineTunedModelProvider()).create(model_props(fast_emulator, data)).outs
    config = fast_emulator.config
    arm = management_client(config.subscription_id, endpoint=fast_emulator.url,
                            credential=StaticTokenCredential("t"), polling_interval=0.1)
    deploy_model(arm, DeploymentSpec(subscription_id=config.subscription_id, resource_group=config.default_resource_group,
                                     account_name=config.default_account, deployment_name="teacher",
                                     model=trained["fine_tuned_model"]))
    provider = over_the_wire(SmokeTestProvider())
    props = engine_props({"account_id": account_id(fast_emulator), "deployment_name": "teacher",
                          "question": SMOKE_TEST_QUESTION, "model": trained["fine_tuned_model"], "few_shot": True,
                          "timeout_seconds": 5})
    created = provider.create(props)
    answer = created.outs["answer"]
    assert answer and "base model" not in answer  # the fine-tuned deployment answers from its training data
    assert fast_emulator.api_key not in repr(created.outs)

    assert provider.diff(created.id, created.outs, props).changes is False
    assert provider.diff(created.id, created.outs, {**props, "timeout_seconds": 60}).changes is False
    changed = {**props, "model": "gpt-4o-mini-2024-07-18"}
    assert provider.diff(created.id, created.outs, changed).changes is True

    missing = engine_props({**props, "deployment_name": "nope", "timeout_seconds": 0.5})
    from pipeline.errors import ServiceError

    with pytest.raises(ServiceError, match="nope"):
        provider.create(missing)


def test_create_survives_throttling_and_server_errors(data, monkeypatch) -> None:
    """429s and 500s on the job routes during create: the SDK's retries and the wait loop carry on."""
    from pipeline.emulator import FaultRule

    faults = [FaultRule(route="fine_tuning/jobs", kind="429", count=2, seconds=0.1),
              FaultRule(route="fine_tuning/jobs/[^/]+$", kind="500", count=3, methods=["GET"])]
    emu = start(faults=faults)
    try:
        use_arm(monkeypatch, emu)
        outs = over_the_wire(FineTunedModelProvider()).create(model_props(emu, data)).outs
        assert outs["fine_tuned_model"].startswith("gpt-4o-mini-2024-07-18.ft-")
        assert len(list(make_client(emu).fine_tuning.jobs.list())) == 1
        assert fired(emu) == [2, 3]  # the faults really hit the provider's calls
    finally:
        emu.stop()


def test_create_records_the_checkpoints_and_keeps_the_model_when_they_cannot_be_read(data, monkeypatch) -> None:
    """Create's outputs list the kept checkpoints and the final model. When the checkpoint list keeps failing,
    the trained model is still recorded (with a warning) and a later refresh reads the list."""

    from pipeline.emulator import FaultRule

    warnings: list[str] = []
    monkeypatch.setattr("pulumi.log.warn", lambda message, *a, **k: warnings.append(message))
    emu = start(faults=[FaultRule(route="fine_tuning/jobs/[^/]+/checkpoints", kind="500")])
    try:
        use_arm(monkeypatch, emu)
        provider = over_the_wire(FineTunedModelProvider())
        created = provider.create(model_props(emu, data))
        assert created.outs["fine_tuned_model"] and created.outs["checkpoints"] is None
        assert any(f"could not read the checkpoints of job {created.id}" in w and "pulumi refresh" in w
                   for w in warnings)

        loopback.delete(f"{emu.url}/admin/faults", headers={"api-key": emu.api_key}).raise_for_status()
        read = provider.read(created.id, engine_props(created.outs))
        steps = [(point["step"], point["final"]) for point in read.outs["checkpoints"]]
        assert len(steps) == 3 and steps[-1] == (steps[-2][0], True)  # two epochs kept, then the final model
        assert read.outs["checkpoints"][-1]["model"] == created.outs["fine_tuned_model"]
    finally:
        emu.stop()


# ---- the training method: DPO, replace on method/beta, older state reads as supervised ----------------------
DPO_MODEL = "gpt-4.1-mini-2025-04-14"
FAKE = type("Emu", (), {"config": type("C", (), {"subscription_id": "00000000-0000-0000-0000-000000000000",
                                                 "default_resource_group": "rg", "default_account": "a"})})()


@pytest.fixture
def pairs(tmp_path: Path, datasets_dir: Path) -> dict[str, Path]:
    files = {name: tmp_path / f"preference_{name}_set.jsonl" for name in ("training", "validation")}
    for name, path in files.items():
        shutil.copy(datasets_dir / f"preference_{name}_set.jsonl", path)
    return files


def dpo_props(emu: Any, pairs: dict[str, Path], training: TrainingSettings | None = None,
              **overrides: Any) -> dict[str, Any]:
    props = resource_inputs(FineTunedModelArgs(
        account_id=account_id(emu), training_path=str(pairs["training"]),
        training_sha256=content_hash(pairs["training"]), validation_path=str(pairs["validation"]),
        validation_sha256=content_hash(pairs["validation"]),
        training=training or TrainingSettings(model=DPO_MODEL, n_epochs=2, method="dpo", beta=0.25),
        timeout_minutes=2, poll_seconds=0.1))
    return engine_props({**props, **overrides})


def test_a_dpo_resource_trains_a_dpo_job(fast_emulator, pairs, monkeypatch) -> None:
    use_arm(monkeypatch, fast_emulator)
    props = dpo_props(fast_emulator, pairs)
    assert props["method"] == "dpo" and props["beta"] == 0.25
    created = over_the_wire(FineTunedModelProvider()).create(props)
    assert created.outs["fine_tuned_model"].startswith(DPO_MODEL + ".ft-")
    job = make_client(fast_emulator).fine_tuning.jobs.retrieve(created.id)
    assert job.status == "succeeded" and job.method.type == "dpo"
    assert job.method.dpo.hyperparameters.beta == 0.25 and job.method.dpo.hyperparameters.n_epochs == 2
    again = over_the_wire(FineTunedModelProvider()).create(props)  # adopts the same DPO job
    assert again.id == created.id


def test_method_and_beta_replace_and_older_state_reads_as_supervised(pairs) -> None:
    assert {"method", "beta"} <= set(REPLACE_KEYS)
    provider = over_the_wire(FineTunedModelProvider())
    olds = {**dpo_props(FAKE, pairs), "fine_tuned_model": "m", "job_id": "ftjob-1"}
    assert provider.diff("ftjob-1", olds, dpo_props(FAKE, pairs)).changes is False
    other_beta = dpo_props(FAKE, pairs, TrainingSettings(model=DPO_MODEL, n_epochs=2, method="dpo", beta=0.5))
    assert provider.diff("ftjob-1", olds, other_beta).replaces == ["beta"]
    supervised = dpo_props(FAKE, pairs, TrainingSettings(model=DPO_MODEL, n_epochs=2))
    assert provider.diff("ftjob-1", olds, supervised).replaces == ["method", "beta"]

    before_methods = {k: v for k, v in supervised.items() if k not in ("method", "beta")}  # state of an older version
    assert provider.diff("ftjob-1", {**before_methods, "job_id": "ftjob-1"}, supervised).changes is False

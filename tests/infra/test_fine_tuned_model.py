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

from infra.fine_tuned_model import TRAINING_KEYS, FineTunedModelProvider
from infra.smoke_test import SmokeTestProvider
from pipeline.chat import SMOKE_TEST_QUESTION
from pipeline.emulator import EmulatorServer
from pipeline.files import content_hash
from tests.pipeline.emulated import fast_emulator, make_client, start  # noqa: F401


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


def model_props(emu: EmulatorServer, data: dict[str, Path], **overrides: Any) -> dict[str, Any]:
    props: dict[str, Any] = {
        "endpoint": emu.url,
        "api_key": emu.api_key,
        "training_path": str(data["training"]),
        "training_sha256": content_hash(data["training"]),
        "validation_path": str(data["validation"]),
        "validation_sha256": content_hash(data["validation"]),
        "base_model": "gpt-4o-mini-2024-07-18",
        "hyperparameters": {"n_epochs": 2},
        "suffix": "teacher",
        "seed": 42,
        "timeout_minutes": 2,
        "poll_seconds": 0.1,
    }
    return engine_props({**props, **overrides})


def test_create_trains_then_a_second_create_adopts(fast_emulator, data) -> None:
    provider = over_the_wire(FineTunedModelProvider())
    props = model_props(fast_emulator, data)
    first = provider.create(props)
    outs = first.outs
    assert first.id == outs["job_id"]
    assert outs["fine_tuned_model"].startswith("gpt-4o-mini-2024-07-18.ft-") and outs["fine_tuned_model"].endswith("-teacher")
    assert outs["training_file_id"] and outs["validation_file_id"] and outs["trained_tokens"] > 0
    assert outs["api_key"] == fast_emulator.api_key  # delete needs it; kept secret by additional_secret_outputs

    client = make_client(fast_emulator)
    job = client.fine_tuning.jobs.retrieve(first.id)
    assert job.status == "succeeded" and job.seed == 42 and job.hyperparameters.n_epochs == 2

    again = over_the_wire(FineTunedModelProvider()).create(props)  # e.g. a create retried after a lost state
    assert again.id == first.id and again.outs["fine_tuned_model"] == outs["fine_tuned_model"]
    assert len(list(client.fine_tuning.jobs.list())) == 1
    assert len(list(client.files.list(purpose="fine-tune"))) == 2

    read = provider.read(first.id, engine_props(outs))
    assert read.id == first.id and read.outs["fine_tuned_model"] == outs["fine_tuned_model"]


def test_diff_retrains_only_for_content_or_training_settings(data, tmp_path) -> None:
    provider = over_the_wire(FineTunedModelProvider())
    fake = type("Emu", (), {"url": "http://127.0.0.1:1", "api_key": "old-key"})()
    olds = {**model_props(fake, data), "fine_tuned_model": "m", "job_id": "ftjob-1", "__provider": "x"}

    same = provider.diff("ftjob-1", olds, model_props(fake, data))
    assert same.changes is False and same.replaces == []

    moved = tmp_path / "elsewhere.jsonl"
    shutil.copy(data["training"], moved)
    rotated = type("Emu", (), {"url": "http://127.0.0.1:2", "api_key": "new-key"})()
    cosmetic = provider.diff("ftjob-1", olds, model_props(rotated, data, training_path=str(moved), timeout_minutes=30))
    assert cosmetic.changes is True and cosmetic.replaces == []  # in-place update, no retraining

    for key, value in [("base_model", "gpt-4.1-mini-2025-04-14"), ("hyperparameters", {"n_epochs": 3}),
                       ("suffix", "other"), ("seed", 7)]:
        result = provider.diff("ftjob-1", olds, model_props(fake, data, **{key: value}))
        assert result.replaces == [key], key
        assert key in TRAINING_KEYS

    data["training"].write_text(data["training"].read_text() + data["training"].read_text().splitlines()[0] + "\n")
    new_content = provider.diff("ftjob-1", olds, model_props(fake, data))
    assert new_content.replaces == ["training_sha256"]


def test_update_keeps_the_trained_result() -> None:
    provider = over_the_wire(FineTunedModelProvider())
    olds = {"endpoint": "http://a", "api_key": "k1", "fine_tuned_model": "m", "job_id": "j", "training_file_id": "f"}
    outs = provider.update("j", olds, {"endpoint": "http://b", "api_key": "k2"}).outs
    assert outs["endpoint"] == "http://b" and outs["api_key"] == "k2"
    assert outs["fine_tuned_model"] == "m" and outs["job_id"] == "j" and outs["training_file_id"] == "f"


def test_delete_removes_model_and_files(fast_emulator, data) -> None:
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


def test_keyless_create_uses_an_entra_token(fast_emulator, data, monkeypatch) -> None:
    """No key: the client asks azure-identity's DefaultAzureCredential for a Cognitive Services token."""
    import azure.identity
    from azure.core.credentials import AccessToken

    scopes: list[tuple[str, ...]] = []

    class FakeDefaultCredential:
        def get_token(self, *wanted: str, **_: Any) -> AccessToken:
            scopes.append(wanted)
            return AccessToken("entra-token", 4_102_444_800)

    monkeypatch.setattr(azure.identity, "DefaultAzureCredential", FakeDefaultCredential)
    props = model_props(fast_emulator, data)
    props.pop("api_key")
    outs = over_the_wire(FineTunedModelProvider()).create(props).outs
    assert outs["fine_tuned_model"].startswith("gpt-4o-mini-2024-07-18.ft-")
    assert scopes and scopes[0] == ("https://cognitiveservices.azure.com/.default",)


def test_failed_training_surfaces_the_service_error(fast_emulator, data) -> None:
    from pipeline.errors import PipelineError

    provider = over_the_wire(FineTunedModelProvider())
    with pytest.raises(PipelineError) as info:
        provider.create(model_props(fast_emulator, data, base_model="gpt-does-not-exist"))
    assert "gpt-does-not-exist" in str(info.value)


def test_smoke_test_asks_the_deployment_and_reasks_on_change(fast_emulator, data) -> None:
    from pipeline.arm import StaticTokenCredential, management_client
    from pipeline.deploy import DeploymentSpec, deploy_model

    trained = over_the_wire(FineTunedModelProvider()).create(model_props(fast_emulator, data)).outs
    config = fast_emulator.config
    arm = management_client(config.subscription_id, endpoint=fast_emulator.url,
                            credential=StaticTokenCredential("t"), polling_interval=0.1)
    deploy_model(arm, DeploymentSpec(subscription_id=config.subscription_id, resource_group=config.default_resource_group,
                                     account_name=config.default_account, deployment_name="teacher",
                                     model=trained["fine_tuned_model"]))
    provider = over_the_wire(SmokeTestProvider())
    props = engine_props({"endpoint": fast_emulator.url, "api_key": fast_emulator.api_key, "deployment_name": "teacher",
                          "question": SMOKE_TEST_QUESTION, "model": trained["fine_tuned_model"], "few_shot": True,
                          "timeout_seconds": 5})
    created = provider.create(props)
    answer = created.outs["answer"]
    assert answer and "base model" not in answer  # the fine-tuned deployment answers from its training data

    assert provider.diff(created.id, created.outs, props).changes is False
    changed = {**props, "model": "gpt-4o-mini-2024-07-18"}
    assert provider.diff(created.id, created.outs, changed).changes is True

    missing = engine_props({**props, "deployment_name": "nope", "timeout_seconds": 0.5})
    from pipeline.errors import ServiceError

    with pytest.raises(ServiceError, match="nope"):
        provider.create(missing)


def test_create_survives_throttling_and_server_errors(data) -> None:
    """429s and 500s on the job routes during create: the SDK's retries and the wait loop carry on."""
    from pipeline.emulator import FaultRule

    faults = [FaultRule(route="fine_tuning/jobs", kind="429", count=2, seconds=0.1),
              FaultRule(route="fine_tuning/jobs/[^/]+$", kind="500", count=3, methods=["GET"])]
    emu = start(faults=faults)
    try:
        outs = over_the_wire(FineTunedModelProvider()).create(model_props(emu, data)).outs
        assert outs["fine_tuned_model"].startswith("gpt-4o-mini-2024-07-18.ft-")
        assert len(list(make_client(emu).fine_tuning.jobs.list())) == 1
        import httpx

        fired = [rule["fired"] for rule in httpx.get(f"{emu.url}/admin/faults", headers={"api-key": emu.api_key}).json()["rules"]]
        assert fired == [2, 3]  # the faults really hit the provider's calls
    finally:
        emu.stop()

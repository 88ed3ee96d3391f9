"""The stack's dynamic providers the way the engine runs them: the vendored `pulumi-resource-pulumi-python`
started with the cwd and environment the engine computes from Pulumi.yaml, driven over gRPC against the
emulator (which serves both the data plane and the ARM plane the providers read the account from)."""
from __future__ import annotations

import shutil
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import grpc
import pytest
from pulumi.dynamic.dynamic import serialize_provider
from pulumi.runtime.proto import provider_pb2

from infra.fine_tuned_model import FineTunedModelArgs, FineTunedModelProvider, resource_inputs
from infra.smoke_test import SmokeTestProvider
from infra.soft_delete import SoftDeleteProvider
from pipeline import envnames
from pipeline.chat import SMOKE_TEST_QUESTION
from pipeline.emulator import EmulatorServer
from pipeline.files import content_hash
from pipeline.training_settings import TrainingSettings
from tests import loopback
from tests.infra.engine import (
    UNKNOWN, LaunchSpec, ProviderHost, engine_create, language_host_virtualenv, launch_spec,
)
from tests.infra.pulumi_harness import ROOT
from pipeline.emulator.clock import JumpClock
from tests.pipeline.emulated import make_client, start

MODEL_TYPE = "pulumi-python:dynamic/aoai-finetune:FineTunedModel"
SMOKE_TYPE = "pulumi-python:dynamic/aoai-finetune:SmokeTest"
GUARD_TYPE = "pulumi-python:dynamic/aoai-finetune:AccountSoftDelete"


@pytest.fixture
def spec() -> LaunchSpec:
    return launch_spec(ROOT)


@pytest.fixture
def emulator() -> Iterator[EmulatorServer]:
    emu = start(training_seconds=1.0)  # the provider polls every 0.2 s (model_inputs' poll_seconds)
    try:
        yield emu
    finally:
        emu.stop()


def arm_env(emu: EmulatorServer) -> dict[str, str]:
    """What the user's shell would export for the emulator; the engine passes its environment on to plugins."""
    return {envnames.AZURE_RESOURCE_MANAGER_ENDPOINT: emu.url, envnames.AZURE_RESOURCE_MANAGER_TOKEN: "t"}


@pytest.fixture
def host(spec: LaunchSpec, emulator: EmulatorServer) -> Iterator[ProviderHost]:
    with ProviderHost(spec, extra_env=arm_env(emulator)) as running:
        running.configure()
        yield running


def account_id(emu: EmulatorServer, name: str | None = None) -> str:
    config = emu.config
    return (f"/subscriptions/{config.subscription_id}/resourceGroups/{config.default_resource_group}"
            f"/providers/Microsoft.CognitiveServices/accounts/{name or config.default_account}")


def checkout(tmp_path: Path, name: str) -> dict[str, Path]:
    """The sample datasets as they would sit in a clone of the project at `tmp_path/name`."""
    folder = tmp_path / name / "datasets"
    folder.mkdir(parents=True)
    return {kind: Path(shutil.copy(ROOT / "datasets" / f"{kind}_set.jsonl", folder)) for kind in ("training", "validation")}


def model_inputs(emu: EmulatorServer, files: dict[str, Path], **overrides: Any) -> dict[str, Any]:
    """The FineTunedModel inputs the program registers (the resource's own `resource_inputs`), with its provider."""
    inputs = resource_inputs(FineTunedModelArgs(
        account_id=account_id(emu), training_path=str(files["training"]), training_sha256=content_hash(files["training"]),
        validation_path=str(files["validation"]), validation_sha256=content_hash(files["validation"]),
        training=TrainingSettings(n_epochs=2, suffix="teacher", seed=7), timeout_minutes=5, poll_seconds=0.2))
    return {"__provider": serialize_provider(FineTunedModelProvider()), **inputs, **overrides}


def make_account(emu: EmulatorServer, name: str) -> str:
    from azure.mgmt.cognitiveservices.models import Account, AccountProperties, Sku

    config = emu.config
    arm_client(emu).accounts.begin_create(config.default_resource_group, name, Account(
        kind="OpenAI", sku=Sku(name="S0"), location=config.location,
        properties=AccountProperties(custom_sub_domain_name=name))).result()
    return account_id(emu, name)


def arm_client(emu: EmulatorServer) -> Any:
    from pipeline.arm import StaticTokenCredential, management_client

    return management_client(emu.config.subscription_id, endpoint=emu.url, credential=StaticTokenCredential("t"),
                             polling_interval=0.05)


# ---- 1. the virtualenv both hosts use -------------------------------------------------------------------------

def test_the_provider_host_and_the_language_host_find_the_same_virtualenv(spec: LaunchSpec) -> None:
    assert spec.cwd == ROOT / "infra"  # getPwdMain for `main: infra/`
    provider_venv = spec.cwd / spec.env["PULUMI_RUNTIME_VIRTUALENV"]  # what the host script does with $PWD
    language_venv = language_host_virtualenv(ROOT)
    assert provider_venv.resolve() == language_venv.resolve()
    assert (provider_venv / "bin" / "python").exists()

    with ProviderHost(spec) as host:  # starts: the script found a virtualenv with pulumi in it
        assert host.plugin_info() == "0.1.0"
        assert host.configure().acceptSecrets is False  # the engine hands it plain values, secrets unwrapped
        # Check unpickles the provider: `infra` and `pipeline` import inside the provider process
        inputs = host.check(host.urn(MODEL_TYPE, "m"), {}, {"__provider": serialize_provider(FineTunedModelProvider()),
                                                            "account_id": "x"})
        assert inputs["account_id"] == "x"


def test_a_layout_without_the_link_fails_like_upstream_issue_7061(tmp_path: Path, spec: LaunchSpec) -> None:
    """Negative control: the same Pulumi.yaml with the virtualenv only at the root; the host cannot start."""
    shutil.copy(ROOT / "Pulumi.yaml", tmp_path / "Pulumi.yaml")
    (tmp_path / "infra").mkdir()
    (tmp_path / ".venv").symlink_to(language_host_virtualenv(ROOT).resolve(), target_is_directory=True)
    naive = launch_spec(tmp_path)
    from tests.infra.engine import HostExited

    with pytest.raises(HostExited, match=r"virtualenv.*infra/\.venv.*doesn't exist"):
        ProviderHost(naive)


# ---- 2 and 3: the fine-tuned model over gRPC --------------------------------------------------------------------

def test_fine_tuned_model_lifecycle_through_the_provider_host(host: ProviderHost, emulator: EmulatorServer,
                                                              tmp_path: Path) -> None:
    urn = host.urn(MODEL_TYPE, "fine-tuned-model")
    here = checkout(tmp_path, "clone-a")
    id_, outs, inputs = engine_create(host, urn, model_inputs(emulator, here))
    assert id_ == outs["job_id"] and outs["fine_tuned_model"].endswith("-teacher")
    assert emulator.api_key not in str(outs)
    host.wait_for_log(rf"fine-tuning job {id_} started")

    # an unchanged stack, refreshed and previewed from another checkout of the same files: no change at all
    assert host.read(urn, id_, outs) == (id_, outs)
    elsewhere = checkout(tmp_path, "clone-b")
    moved = host.check(urn, inputs, model_inputs(emulator, elsewhere))
    assert host.diff(urn, id_, outs, moved).changes == provider_pb2.DiffResponse.DIFF_NONE

    # a rotated key: nothing in the inputs changes, and later calls read the new key through ARM
    arm = arm_client(emulator)
    config = emulator.config
    for key_name in ("Key1", "Key2"):
        arm.accounts.regenerate_key(config.default_resource_group, config.default_account, key_name)
    assert host.diff(urn, id_, outs, host.check(urn, inputs, model_inputs(emulator, here))).changes == \
        provider_pb2.DiffResponse.DIFF_NONE
    assert host.read(urn, id_, outs)[0] == id_

    # another account (location/resourceGroupName/namePrefix changed): replace; the new one trains there
    other = make_account(emulator, "aoai-ft-other")
    news = host.check(urn, inputs, model_inputs(emulator, here, account_id=other))
    diff = host.diff(urn, id_, outs, news)
    assert diff.changes == provider_pb2.DiffResponse.DIFF_SOME and list(diff.replaces) == ["account_id"]
    # in a preview of that change the account id may not be known yet: still a replace, never an update
    unknown = host.diff(urn, id_, outs, {**news, "account_id": UNKNOWN})
    assert list(unknown.replaces) == ["account_id"]
    new_id, new_outs = host.create(urn, news)
    assert new_id != id_ and new_outs["fine_tuned_model"] != outs["fine_tuned_model"]

    # the replaced model is deleted from its own account
    host.delete(urn, id_, outs)
    from pipeline.clients import openai_client
    from pipeline.connection import account_connection

    rotated = openai_client(account_connection(account_id(emulator), arm=arm))
    assert outs["fine_tuned_model"] not in {m.id for m in rotated.models.list()}
    host.delete(urn, new_id, new_outs)


def test_the_created_model_records_its_checkpoints_and_refresh_reads_them(host: ProviderHost, emulator: EmulatorServer,
                                                                           tmp_path: Path) -> None:
    """Create's outputs list what the job kept (as the SDK reports it) plus the final model, so the program can
    deploy any of them without this resource changing; a refresh of older state fills the list in."""
    from pipeline.deploy import DeploymentSpec, deploy_model
    from pipeline.jobs import Checkpoint, choose_checkpoint

    urn = host.urn(MODEL_TYPE, "fine-tuned-model")
    id_, outs, checked = engine_create(host, urn, model_inputs(emulator, checkout(tmp_path, "c"), hyperparameters={"n_epochs": 3}))
    raw = sorted(make_client(emulator).fine_tuning.jobs.checkpoints.list(id_), key=lambda p: p.step_number)
    recorded = [Checkpoint.model_validate(point) for point in outs["checkpoints"]]
    assert [(p.step, p.model, p.valid_loss, p.final) for p in recorded] == [
        *((p.step_number, p.fine_tuned_model_checkpoint, p.metrics.full_valid_loss, False) for p in raw),
        (raw[-1].step_number, outs["fine_tuned_model"], raw[-1].metrics.full_valid_loss, True)]
    assert len(raw) == 3 and all(p.train_loss is not None for p in recorded)

    # the recorded list is an output only: an unchanged program diffs clean, a refresh reads the same list
    assert host.diff(urn, id_, outs, checked).changes == provider_pb2.DiffResponse.DIFF_NONE
    assert host.read(urn, id_, outs) == (id_, outs)
    older = {key: value for key, value in outs.items() if key != "checkpoints"}  # state from before the list
    assert host.read(urn, id_, older)[1]["checkpoints"] == outs["checkpoints"]

    # what the program picks from the list is a model ARM deploys
    chosen = choose_checkpoint(raw[0].step_number, recorded, job_id=id_)
    config = emulator.config
    deployment = deploy_model(arm_client(emulator), DeploymentSpec(
        subscription_id=config.subscription_id, resource_group=config.default_resource_group,
        account_name=config.default_account, deployment_name="ckpt", model=chosen.model))
    assert chosen.model.endswith(f":ckpt-step-{raw[0].step_number}") and deployment["properties"]["model"]["name"] == chosen.model


def test_smoke_test_through_the_provider_host(host: ProviderHost, emulator: EmulatorServer, tmp_path: Path) -> None:
    from pipeline.deploy import DeploymentSpec, deploy_model

    _, model_outs, _ = engine_create(host, host.urn(MODEL_TYPE, "m"), model_inputs(emulator, checkout(tmp_path, "c")))
    config = emulator.config
    deploy_model(arm_client(emulator), DeploymentSpec(
        subscription_id=config.subscription_id, resource_group=config.default_resource_group,
        account_name=config.default_account, deployment_name="teacher", model=model_outs["fine_tuned_model"]))
    urn = host.urn(SMOKE_TYPE, "smoke-test")
    inputs = {"__provider": serialize_provider(SmokeTestProvider()), "account_id": account_id(emulator),
              "deployment_name": "teacher", "question": SMOKE_TEST_QUESTION,
              "model": model_outs["fine_tuned_model"], "few_shot": True, "timeout_seconds": 5, "answer": None}
    id_, outs, checked = engine_create(host, urn, inputs)
    assert outs["answer"] and emulator.api_key not in str(outs)
    assert host.diff(urn, id_, outs, checked).changes == provider_pb2.DiffResponse.DIFF_NONE
    retrained = {**checked, "model": "gpt-4o-mini-2024-07-18"}
    assert host.diff(urn, id_, outs, retrained).changes == provider_pb2.DiffResponse.DIFF_SOME
    assert host.update(urn, id_, outs, retrained)["answer"]


def test_soft_delete_guard_through_the_provider_host(host: ProviderHost, emulator: EmulatorServer) -> None:
    config = emulator.config
    make_account(emulator, "aoai-ft-guarded")
    arm_client(emulator).accounts.begin_delete(config.default_resource_group, "aoai-ft-guarded").result()
    urn = host.urn(GUARD_TYPE, "openai-soft-delete")
    inputs = {"__provider": serialize_provider(SoftDeleteProvider()), "subscription_id": config.subscription_id,
              "location": config.location, "resource_group_name": config.default_resource_group,
              "account_name": "aoai-ft-guarded", "purge_on_destroy": True, "restore": None, "purged_stale": None}
    id_, outs, _ = engine_create(host, urn, inputs)  # a stale soft-deleted twin is purged so the name is free
    assert outs["purged_stale"] is True and outs["restore"] is False
    make_account(emulator, "aoai-ft-guarded")
    arm_client(emulator).accounts.begin_delete(config.default_resource_group, "aoai-ft-guarded").result()
    host.delete(urn, id_, outs)  # destroy: the account's soft-deleted twin is purged
    deleted = loopback.get(f"{emulator.url}/subscriptions/{config.subscription_id}/providers/"
                           "Microsoft.CognitiveServices/deletedAccounts?api-version=2024-10-01",
                           headers={"Authorization": "Bearer t"}).json()["value"]
    assert [a for a in deleted if a["name"] == "aoai-ft-guarded"] == []


# ---- 7. an interrupted `pulumi up` --------------------------------------------------------------------------
INTERRUPTED_TRAINING_SECONDS = 600.0
"""On a JumpClock: far longer than the test, so only `clock.advance` ends the job."""


def test_an_interrupted_up_leaves_the_job_running_and_the_next_up_adopts_it(spec: LaunchSpec, tmp_path: Path) -> None:
    clock = JumpClock()  # the job runs until the test says it is done: no race with the interrupt, no 8 s wait
    emu = start(clock, training_seconds=INTERRUPTED_TRAINING_SECONDS)
    try:
        files = checkout(tmp_path, "clone")
        urn_args = (MODEL_TYPE, "fine-tuned-model")
        with ProviderHost(spec, extra_env=arm_env(emu)) as first:
            first.configure()
            inputs = first.check(first.urn(*urn_args), {}, model_inputs(emu, files))
            failure: list[BaseException] = []

            def create() -> None:
                try:
                    first.create(first.urn(*urn_args), inputs)
                except grpc.RpcError as exc:
                    failure.append(exc)

            call = threading.Thread(target=create)
            call.start()
            started = first.wait_for_log(r"fine-tuning job (ftjob-\S+) started")
            job_id = started.split("fine-tuning job ")[1].split()[0]
            clock.advance(INTERRUPTED_TRAINING_SECONDS / 5)  # past validation: the job is training
            # before anyone presses Ctrl-C, the log says what an interrupt does to the job
            first.wait_for_log(rf"interrupted.*{job_id} keeps running in Azure.*next `pulumi up` adopts it")

            first.cancel()  # the first Ctrl-C: the engine asks every provider to cancel; the wait goes on
            call.join(timeout=1.0)
            assert call.is_alive() and first.process.poll() is None

            assert first.interrupt(), "the provider host did not stop within the engine's 5 s grace period"
            call.join(timeout=5)
            assert failure, "the interrupted create must not report success"
            first.wait_for_log(rf"`pulumi up` was interrupted while waiting for fine-tuning job {job_id}: "
                               r"the job keeps running in Azure", timeout=2)
        client = make_client(emu)
        assert client.fine_tuning.jobs.retrieve(job_id).status in ("queued", "running")

        # the next `pulumi up`: the pending create is created again, adopts the running job and waits for it
        # (the host stops before the pool waits for its call: a call that hangs ends with the host)
        with ThreadPoolExecutor(1) as background, ProviderHost(spec, extra_env=arm_env(emu)) as second:
            second.configure()
            again = background.submit(engine_create, second, second.urn(*urn_args), model_inputs(emu, files))
            second.wait_for_log(rf"fine-tuning job {job_id} .*already running.*adopting it")
            assert not again.done(), "the adopted job is still running: the create waits for it"
            clock.advance(INTERRUPTED_TRAINING_SECONDS)  # the job finishes while the second `up` waits
            id_, outs, _ = again.result(timeout=60)
        assert id_ == job_id and outs["fine_tuned_model"]
        assert [job.id for job in client.fine_tuning.jobs.list()] == [job_id]  # trained once
    finally:
        emu.stop()


# ---- 4 and 5: keyless, with the identity azure-native is configured with -----------------------------------

RUNNER_OBJECT_ID = "3a7c1f00-0000-4000-8000-00000000c1c1"
ROLE_PROPAGATION_SECONDS = 300.0
"""On a JumpClock: longer than the test and within the smoke test's 30 s only because the test moves the clock."""


def test_keyless_smoke_test_signs_in_like_azure_native_and_waits_for_its_role(spec: LaunchSpec, tmp_path: Path) -> None:
    """The provider process has only what azure-native reads (ARM_USE_MSI + the managed-identity endpoint): the
    smoke test gets its token from there, waits (with progress) until the runner's role has propagated, then
    answers; an account the runner cannot reach fails at once, in one line, with the way out."""
    from pipeline.deploy import DeploymentSpec, deploy_model
    from pipeline.emulator import EmulatorConfig
    from pipeline.emulator.config import EmulatedPrincipal
    from tests.pipeline.emulator.test_dataplane_access import OPENAI_USER

    runner = EmulatedPrincipal(object_id=RUNNER_OBJECT_ID, client_id="c1c1c1c1-0000-4000-8000-000000000001")
    clock = JumpClock()  # the role propagates when the test says so: after the smoke test has said it waits
    emu = EmulatorServer(EmulatorConfig(port=0, log_requests=False, arm_token="operator", principals=[runner],
                                        role_propagation_seconds=ROLE_PROPAGATION_SECONDS, deployment_seconds=0.1),
                         clock=clock).start()
    try:
        config = emu.config
        from azure.mgmt.cognitiveservices.models import Account, AccountProperties, Sku

        from pipeline.arm import StaticTokenCredential, management_client

        arm = management_client(config.subscription_id, endpoint=emu.url, credential=StaticTokenCredential("operator"),
                                polling_interval=0.05)
        for name, access in (("aoai-ft-keyless", "Enabled"), ("aoai-ft-private", "Disabled")):
            arm.accounts.begin_create(config.default_resource_group, name, Account(
                kind="OpenAI", sku=Sku(name="S0"), location=config.location,
                properties=AccountProperties(custom_sub_domain_name=name, disable_local_auth=True,
                                             public_network_access=access))).result()
            deploy_model(arm, DeploymentSpec(subscription_id=config.subscription_id,
                                             resource_group=config.default_resource_group, account_name=name,
                                             deployment_name="teacher", model="gpt-4o-mini-2024-07-18"))
        keyless = account_id(emu, "aoai-ft-keyless")
        role = loopback.put(f"{emu.url}{keyless}/providers/Microsoft.Authorization/roleAssignments/"
                            "5d7b0b35-5a8e-4b7c-9d1a-2f0e7f1c0a11", params={"api-version": "2022-04-01"},
                            headers={"Authorization": "Bearer operator"},
                            json={"properties": {"principalId": RUNNER_OBJECT_ID, "principalType": "ServicePrincipal",
                                              "roleDefinitionId": f"/subscriptions/{config.subscription_id}/providers/"
                                                                  f"Microsoft.Authorization/roleDefinitions/{OPENAI_USER}"}})
        assert role.status_code in (200, 201), role.text
        env = {envnames.AZURE_RESOURCE_MANAGER_ENDPOINT: emu.url, envnames.AZURE_RESOURCE_MANAGER_TOKEN: "operator",
               "ARM_USE_MSI": "true", "IDENTITY_ENDPOINT": f"{emu.url}/identity/token",
               "IDENTITY_HEADER": config.identity_header}
        # (the host stops before the pool waits for its call: a call that hangs ends with the host)
        with ThreadPoolExecutor(1) as background, ProviderHost(spec, extra_env=env) as host:
            host.configure()
            urn = host.urn(SMOKE_TYPE, "smoke-test")
            inputs = {"__provider": serialize_provider(SmokeTestProvider()), "account_id": keyless,
                      "deployment_name": "teacher", "question": SMOKE_TEST_QUESTION, "model": "gpt-4o-mini-2024-07-18",
                      "few_shot": True, "timeout_seconds": 30, "retry_seconds": 0.5, "answer": None}
            asking = background.submit(engine_create, host, urn, inputs)
            host.wait_for_log(r"smoke test: waiting for .*role")  # it waits, and says for what
            assert not asking.done()
            clock.advance(ROLE_PROPAGATION_SECONDS)  # the role has propagated: the next retry gets its answer
            _, outs, _ = asking.result(timeout=60)
            assert outs["answer"]

            private = {**inputs, "account_id": account_id(emu, "aoai-ft-private")}
            with pytest.raises(grpc.RpcError) as refused:
                engine_create(host, urn, private)
            details = refused.value.details()
            assert "Public access is disabled" in details and "allowedIpRanges" in details
            assert not any("aoai-ft-private" in line and "waiting" in line for line in host.log)  # no retries
    finally:
        emu.stop()

"""`Evaluation` the way the engine runs it: the vendored provider host over gRPC, reading the account through the
emulator's ARM plane and evaluating through its Evals API (fine-tuned vs base deployment on the validation set)."""
from __future__ import annotations

import json
from collections.abc import Iterator

import grpc
import pytest
from pulumi.dynamic.dynamic import serialize_provider
from pulumi.runtime.proto import provider_pb2

from infra.evaluation import EvaluationProvider
from pipeline.deploy import DeploymentSpec, deploy_model
from pipeline.emulator import EmulatorServer
from pipeline.evals.criteria import parse_criteria
from pipeline.files import content_hash
from tests.infra.engine import LaunchSpec, ProviderHost, engine_create, launch_spec
from tests.infra.pulumi_harness import ROOT
from tests.infra.test_provider_host import account_id, arm_client, arm_env
from tests.pipeline.emulated import start
from tests.pipeline.evals_world import TRAINING, VALIDATION, train

EVALUATION_TYPE = "pulumi-python:dynamic/aoai-finetune:Evaluation"


@pytest.fixture(scope="module")
def emulator() -> Iterator[EmulatorServer]:
    emu = start(eval_run_seconds=1.0)
    try:
        model = train(emu, TRAINING, suffix="teacher")
        config = emu.config
        arm = arm_client(emu)
        for name, deployed, version in (("teacher", model, "1"), ("base", "gpt-4o-mini", "2024-07-18")):
            deploy_model(arm, DeploymentSpec(subscription_id=config.subscription_id,
                                             resource_group=config.default_resource_group,
                                             account_name=config.default_account, deployment_name=name,
                                             model=deployed, model_version=version))
        emu.trained_model = model  # type: ignore[attr-defined]
        yield emu
    finally:
        emu.stop()


@pytest.fixture(scope="module")
def host(emulator: EmulatorServer) -> Iterator[ProviderHost]:
    spec: LaunchSpec = launch_spec(ROOT)
    with ProviderHost(spec, extra_env=arm_env(emulator)) as running:
        running.configure()
        yield running


def inputs(emu: EmulatorServer, **overrides: object) -> dict[str, object]:
    """The Evaluation inputs the program registers (see infra.evaluation.Evaluation)."""
    return {
        "__provider": serialize_provider(EvaluationProvider()),
        "account_id": account_id(emu), "deployment_name": "teacher", "base_deployment_name": "base",
        "model": emu.trained_model, "base_model": "gpt-4o-mini-2024-07-18",  # type: ignore[attr-defined]
        "dataset_path": str(VALIDATION), "dataset_sha256": content_hash(VALIDATION),
        "criteria": json.dumps(parse_criteria("fuzzy_match>=0.6"), sort_keys=True), "eval_name": "aoai-ft held-out",
        "timeout_seconds": 60, "poll_seconds": 0.2,
        "eval_id": None, "run_id": None, "base_run_id": None, "pass_rate": None, "base_pass_rate": None,
        "passed": None, "total": None, "base_passed": None, "report_url": None,
        **overrides,
    }


def test_evaluation_lifecycle_through_the_provider_host(host: ProviderHost, emulator: EmulatorServer) -> None:
    urn = host.urn(EVALUATION_TYPE, "evaluation")
    id_, outs, checked = engine_create(host, urn, inputs(emulator))
    assert outs["total"] == 16 and outs["pass_rate"] >= outs["base_pass_rate"] + 0.4
    assert outs["run_id"].startswith("evalrun_") and outs["run_id"] != outs["base_run_id"]
    assert emulator.api_key not in str(outs)
    host.wait_for_log(r"evaluation of teacher: run evalrun_\w+ (queued|in_progress), \d+/16 items graded")
    host.wait_for_log(r"evaluation on 16 held-out items: teacher passes \d+% .*base model base 0%")

    # operational inputs are never a change; what is measured is
    relaxed = host.check(urn, checked, inputs(emulator, timeout_seconds=600, poll_seconds=5))
    assert host.diff(urn, id_, outs, relaxed).changes == provider_pb2.DiffResponse.DIFF_NONE
    stricter = host.check(urn, checked, inputs(emulator, criteria=json.dumps(parse_criteria("fuzzy_match>=0.9"))))
    diff = host.diff(urn, id_, outs, stricter)
    assert diff.changes == provider_pb2.DiffResponse.DIFF_SOME and not diff.replaces
    updated = host.update(urn, id_, outs, stricter)
    assert updated["eval_id"] != outs["eval_id"] and updated["pass_rate"] <= outs["pass_rate"]

    # the same measurement again (e.g. the state was lost): the eval and runs in the service are adopted
    _, again, _ = engine_create(host, urn, inputs(emulator))
    assert (again["eval_id"], again["run_id"], again["base_run_id"]) == (outs["eval_id"], outs["run_id"],
                                                                         outs["base_run_id"])
    host.wait_for_log(r"evaluation: adopted run " + outs["run_id"])
    host.delete(urn, id_, outs)  # keeps the service's record


def test_a_missing_deployment_fails_the_create_with_the_reason(host: ProviderHost, emulator: EmulatorServer) -> None:
    urn = host.urn(EVALUATION_TYPE, "evaluation-missing")
    with pytest.raises(grpc.RpcError) as info:
        engine_create(host, urn, inputs(emulator, deployment_name="nowhere"))
    assert "DeploymentNotFound" in info.value.details() and "nowhere" in info.value.details()

"""The FineTunedModel provider with the training method: a DPO resource trains a DPO job on the emulator,
changing the method or beta replaces (trains again), and state written before `method` existed reads as
supervised, so upgrading retrains nothing."""
from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import pytest

from infra.fine_tuned_model import REPLACE_KEYS, FineTunedModelArgs, FineTunedModelProvider, resource_inputs
from pipeline.files import content_hash
from pipeline.training_settings import TrainingSettings
from tests.infra.test_fine_tuned_model import account_id, arm_env, engine_props, over_the_wire, use_arm  # noqa: F401
from tests.pipeline.emulated import make_client

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

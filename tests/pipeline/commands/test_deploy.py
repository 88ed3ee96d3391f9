"""`aoai-ft deploy` and `aoai-ft chat` against the emulator's ARM and data planes."""
from __future__ import annotations

import pytest

from pipeline import envnames
from pipeline.arm import ARM_TOKEN_ENV
from pipeline.finetune import FineTuneRequest, ensure_fine_tuned_model
from tests.pipeline.emulated import invoke


@pytest.fixture
def arm_env(fast_emulator, monkeypatch) -> None:
    cfg = fast_emulator.config
    for key, value in {envnames.AZURE_RESOURCE_MANAGER_ENDPOINT: fast_emulator.url, ARM_TOKEN_ENV: "emulator-token",
                       envnames.AZURE_SUBSCRIPTION_ID: cfg.subscription_id,
                       envnames.AZURE_RESOURCE_GROUP: cfg.default_resource_group,
                       envnames.AZURE_OPENAI_RESOURCE_NAME: cfg.default_account}.items():
        monkeypatch.setenv(key, value)


def test_deploy_chat_delete(fast_emulator, client, datasets_dir, arm_env) -> None:
    result = ensure_fine_tuned_model(client, FineTuneRequest(training_path=datasets_dir / "training_set.jsonl"),
                                     timeout=60, poll_interval=0.1)
    deployed = invoke(fast_emulator, ["deploy", "--model", result.fine_tuned_model, "--deployment", "teacher"])
    assert deployed.exit_code == 0, deployed.output
    assert "deployment teacher of" in deployed.output and "Succeeded" in deployed.output
    assert "billed hourly" in deployed.output

    answer = invoke(fast_emulator, ["chat", "--deployment", "teacher"])
    assert answer.exit_code == 0, answer.output
    assert answer.output.strip() in (datasets_dir / "training_set.jsonl").read_text(encoding="utf-8")

    removed = invoke(fast_emulator, ["deploy", "--deployment", "teacher", "--delete"])
    assert removed.exit_code == 0 and "deleted" in removed.output
    gone = invoke(fast_emulator, ["chat", "--deployment", "teacher"])
    assert gone.exit_code == 1 and "Error: " in gone.output and "is not available" in gone.output


def test_deploy_needs_a_model(fast_emulator, arm_env) -> None:
    result = invoke(fast_emulator, ["deploy", "--deployment", "teacher"])
    assert result.exit_code == 2 and f"  hint: pass --model or set {envnames.FINE_TUNED_MODEL}" in result.output


def test_plain_http_arm_without_token_is_refused(fast_emulator, arm_env, monkeypatch) -> None:
    monkeypatch.delenv(ARM_TOKEN_ENV)
    result = invoke(fast_emulator, ["deploy", "--model", "m", "--deployment", "teacher"])
    assert result.exit_code == 2 and "Error: refusing to send Azure credentials to the plain-http endpoint" in result.output


def test_a_base_model_deployment_gets_no_hosting_fee_warning(fast_emulator, arm_env) -> None:
    deployed = invoke(fast_emulator, ["deploy", "--model", "gpt-4o-mini-2024-07-18", "--deployment", "base"])
    assert deployed.exit_code == 0, deployed.output
    assert "deployment base of gpt-4o-mini-2024-07-18: Succeeded" in deployed.output
    assert "billed hourly" not in deployed.output and "fine-tuned" not in deployed.output
    assert "billed per token" in deployed.output and "no hourly hosting fee" in deployed.output


@pytest.mark.parametrize(("model", "fine_tuned"), [
    ("gpt-4o-mini-2024-07-18", False), ("gpt-4.1-nano-2025-04-14", False),
    ("gpt-4o-mini-2024-07-18.ft-0123456789abcdef0123456789abcdef", True),
    ("gpt-4o-mini-2024-07-18.ft-0123456789abcdef0123456789abcdef-teacher:ckpt-step-10", True),
    ("ft:gpt-4o-mini-2024-07-18:org::abc123", True),
])
def test_which_models_are_fine_tuned(model: str, fine_tuned: bool) -> None:
    from pipeline.deploy import is_fine_tuned

    assert is_fine_tuned(model) is fine_tuned

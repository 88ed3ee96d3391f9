"""`aoai-ft chat`: prints the answer; fails (non-zero) on a missing deployment or an empty answer."""
from __future__ import annotations

from tests.pipeline.emulated import invoke, run_main, emulator_env


def _deploy_base(emu, name: str = "base") -> None:
    """Deploy the base model through ARM, like a user would."""
    from pipeline.arm import StaticTokenCredential, management_client
    from pipeline.deploy import DeploymentSpec, deploy_model

    arm = management_client(emu.config.subscription_id, endpoint=emu.url, credential=StaticTokenCredential("t"),
                            polling_interval=0.1)
    deploy_model(arm, DeploymentSpec(subscription_id=emu.config.subscription_id,
                                     resource_group=emu.config.default_resource_group,
                                     account_name=emu.config.default_account, deployment_name=name,
                                     model="gpt-4o-mini", model_version="2024-07-18"), timeout=30)


def test_chat_with_a_base_deployment(fast_emulator) -> None:
    _deploy_base(fast_emulator)
    result = invoke(fast_emulator, ["chat", "-d", "base", "What is machine learning?", "--no-few-shot"])
    assert result.exit_code == 0, result.output
    assert result.output.strip()


def test_missing_deployment_exits_non_zero(fast_emulator, capsys, monkeypatch) -> None:
    for key, value in emulator_env(fast_emulator).items():
        monkeypatch.setenv(key, value)
    code, out, err = run_main(["chat", "--deployment", "nope"], capsys)
    assert code == 1 and out == "" and "deployment 'nope' is not available" in err and "hint:" in err

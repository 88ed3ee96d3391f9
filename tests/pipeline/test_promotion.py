"""pipeline.promotion: reading a source stack's release, the config recipe, applying it, and the ledger."""
from __future__ import annotations

import json
from datetime import datetime, timezone
from pathlib import Path

import pytest
import yaml

from infra.settings import PROJECT_NAME, StackSettings
from pipeline import envnames
from pipeline.errors import ServiceError, UsageError
from pipeline.stacks import apply_recipe
from pipeline.promotion import (
    CONFIG_NAMESPACE,
    Ledger,
    PromotionError,
    Release,
    load_ledger,
    promote,
    promotion_recipe,
    qualified_stack,
    record_promotion,
    release_from_outputs,
    save_ledger,
)
from tests.pipeline.promotion_world import DEV_ACCOUNT, DEV_OUTPUTS, MODEL, SMOKE_ANSWER

ROOT = Path(__file__).resolve().parents[2]
NOW = datetime(2026, 11, 27, 21, 30, tzinfo=timezone.utc)


def test_namespace_matches_the_project() -> None:
    assert CONFIG_NAMESPACE == PROJECT_NAME == yaml.safe_load((ROOT / "Pulumi.yaml").read_text())["name"]


def test_release_from_dev_outputs() -> None:
    release = release_from_outputs("dev", DEV_OUTPUTS)
    assert (release.model, release.account_id, release.deployment) == (MODEL, DEV_ACCOUNT, "gpt-4o-mini-2024-07-18-ft")
    assert release.smoke_test_answer == SMOKE_ANSWER


def test_a_stack_that_has_not_trained_cannot_be_promoted() -> None:
    outputs = {k: v for k, v in DEV_OUTPUTS.items() if k != envnames.FINE_TUNED_MODEL}
    with pytest.raises(PromotionError, match="no FINE_TUNED_MODEL output") as exc:
        release_from_outputs("dev", outputs)
    assert "pulumi up -s dev" in exc.value.hint


@pytest.mark.parametrize("account_id", [None, "", "aoai-finetune-1a2b3c", "/subscriptions/x/resourceGroups/rg"])
def test_the_source_account_must_be_an_arm_id(account_id) -> None:
    with pytest.raises(PromotionError, match="AZURE_OPENAI_ACCOUNT_ID"):
        release_from_outputs("dev", {**DEV_OUTPUTS, envnames.AZURE_OPENAI_ACCOUNT_ID: account_id})


def _apply_to_config(base: dict[str, object], recipe) -> dict[str, object]:
    config = dict(base)
    for key, value in recipe.values:
        config[key] = value
    return config


def test_pinned_recipe_sets_exactly_one_source_and_validates_as_stack_settings() -> None:
    recipe = promotion_recipe(release_from_outputs("dev", DEV_OUTPUTS), "prod")
    assert dict(recipe.values) == {"mode": "promote", "sourceModel": MODEL, "sourceAccountId": DEV_ACCOUNT,
                                   "sourceStack": "", "sourceEvalPassRate": "0.75", "sourceEvalBasePassRate": "0",
                                   "sourceEvalRunId": "evalrun_dev"}
    assert recipe.commands()[0] == ["pulumi", "config", "set", "--stack", "prod", "aoai-finetune:mode", "promote"]
    assert recipe.shell_lines()[3] == "pulumi config set --stack prod aoai-finetune:sourceStack ''"
    # the prod example stack (which names a sourceStack) + the recipe = valid promote-mode settings, pinned
    example = yaml.safe_load((ROOT / "Pulumi.prod.yaml.example").read_text())["config"]
    base = {key.split(":", 1)[1]: value for key, value in example.items()}
    settings = StackSettings.from_mapping(_apply_to_config(base, recipe))
    assert (settings.mode, settings.source_model, settings.source_account_id, settings.source_stack) == (
        "promote", MODEL, DEV_ACCOUNT, "")


def test_reference_recipe_points_at_the_stack_and_clears_the_pin() -> None:
    reference = qualified_stack("dev", org="my-org")
    assert reference == "my-org/aoai-finetune/dev"
    recipe = promotion_recipe(release_from_outputs("dev", DEV_OUTPUTS), "prod", reference=reference, cwd=Path("/p"))
    assert dict(recipe.values) == {"mode": "promote", "sourceStack": reference, "sourceModel": "",
                                   "sourceAccountId": "", "sourceEvalPassRate": "", "sourceEvalBasePassRate": "",
                                   "sourceEvalRunId": ""}
    assert recipe.commands()[1][:7] == ["pulumi", "config", "set", "--stack", "prod", "--cwd", "/p"]
    settings = StackSettings.from_mapping(_apply_to_config({}, recipe))
    assert settings.source_stack == reference and not settings.source_model


def test_qualified_stack_forms() -> None:
    assert qualified_stack("acme/aoai-finetune/dev", org=None) == "acme/aoai-finetune/dev"
    assert qualified_stack("acme/dev", org=None) == "acme/aoai-finetune/dev"
    with pytest.raises(UsageError, match="needs the organization") as exc:
        qualified_stack("dev", org=None)
    assert "--org" in exc.value.hint


def test_promoting_a_stack_to_itself_is_refused() -> None:
    with pytest.raises(UsageError, match="to itself"):
        promotion_recipe(release_from_outputs("dev", DEV_OUTPUTS), "dev")


def test_apply_sets_every_value_at_once_or_none(fake_pulumi) -> None:
    recipe = promotion_recipe(release_from_outputs("dev", DEV_OUTPUTS), "prod")
    with pytest.raises(ServiceError, match="no stack named 'prod'") as exc:
        apply_recipe(recipe)
    assert "pulumi stack init prod" in exc.value.hint and fake_pulumi.config("prod") == {}
    fake_pulumi.add_stack("prod")
    apply_recipe(recipe)
    assert fake_pulumi.config("prod") == dict(recipe.qualified_values())
    assert [c[:4] for c in fake_pulumi.commands()] == [["config", "set-all", "--stack", "prod"]] * 2


def test_ledger_records_both_environments_and_keeps_history(tmp_path: Path) -> None:
    path = tmp_path / ".aoai-ft" / "promotions.json"
    ledger = load_ledger(path)
    assert ledger == Ledger()
    release = release_from_outputs("dev", DEV_OUTPUTS)
    record_promotion(ledger, release, "prod", applied=False, now=NOW)
    save_ledger(ledger, path)
    newer = Release(stack="dev", model=MODEL.replace("0123", "9999"), account_id=DEV_ACCOUNT)
    again = load_ledger(path)
    record_promotion(again, newer, "prod", applied=True, now=NOW)
    save_ledger(again, path)

    data = json.loads(path.read_text())
    assert data["version"] == 1
    assert data["environments"]["dev"]["status"] == "observed"
    assert data["environments"]["prod"] == {
        "environment": "prod", "model": newer.model, "account_id": DEV_ACCOUNT, "status": "applied",
        "promoted_from": "dev", "at": "2026-11-27T21:30:00Z", "evaluation": None,
    }
    assert [(e["environment"], e["model"]) for e in data["history"]] == [
        ("dev", MODEL), ("prod", MODEL), ("dev", newer.model), ("prod", newer.model)]
    assert not list(path.parent.glob("*.tmp"))


def test_a_damaged_ledger_is_a_usage_error_and_nothing_is_applied(tmp_path: Path, fake_pulumi) -> None:
    path = tmp_path / "promotions.json"
    path.write_text('{"version": 7}')
    fake_pulumi.add_stack("prod")
    with pytest.raises(UsageError, match="not a promotion ledger"):
        promote("dev", "prod", outputs=DEV_OUTPUTS, ledger_path=path, apply_with=apply_recipe)
    assert fake_pulumi.calls() == []


def test_promote_end_to_end_applies_and_records(tmp_path: Path, fake_pulumi) -> None:
    path = tmp_path / "promotions.json"
    fake_pulumi.add_stack("prod")
    release, recipe, entry = promote("dev", "prod", outputs=DEV_OUTPUTS, ledger_path=path, apply_with=apply_recipe, now=NOW)
    assert fake_pulumi.config("prod") == dict(recipe.qualified_values())
    assert fake_pulumi.config("prod")["aoai-finetune:sourceModel"] == MODEL
    assert (entry.environment, entry.model, entry.status, entry.promoted_from) == ("prod", MODEL, "applied", "dev")
    assert load_ledger(path).environments["prod"] == entry


def test_bad_stack_names_are_usage_errors(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="--to"):
        promote("dev", "prod stack", outputs=DEV_OUTPUTS, ledger_path=tmp_path / "l.json")


def test_esc_recipe_sets_the_environments_pulumi_config() -> None:
    recipe = promotion_recipe(release_from_outputs("dev", DEV_OUTPUTS), "prod",
                              esc_environment="my-org/aoai-finetune/prod")
    assert recipe.commands()[1] == ["pulumi", "env", "set", "--string", "my-org/aoai-finetune/prod",
                                    'pulumiConfig["aoai-finetune:sourceModel"]', MODEL]
    assert all(c[:5] == ["pulumi", "env", "set", "--string", "my-org/aoai-finetune/prod"] for c in recipe.commands())

def test_esc_apply_needs_the_environment(fake_pulumi) -> None:
    recipe = promotion_recipe(release_from_outputs("dev", DEV_OUTPUTS), "prod",
                              esc_environment="my-org/aoai-finetune/prod")
    with pytest.raises(ServiceError, match="environment 'my-org/aoai-finetune/prod' not found") as exc:
        apply_recipe(recipe)
    assert "pulumi env init my-org/aoai-finetune/prod" in exc.value.hint
    fake_pulumi.add_environment("my-org/aoai-finetune/prod")
    apply_recipe(recipe)
    assert fake_pulumi.environment("my-org/aoai-finetune/prod") == {
        f'pulumiConfig["{key}"]': value for key, value in recipe.qualified_values()}


def test_esc_environment_names_are_checked() -> None:
    with pytest.raises(UsageError, match="not an ESC environment name"):
        promotion_recipe(release_from_outputs("dev", DEV_OUTPUTS), "prod", esc_environment="my org/prod")


def test_promoting_a_promoted_stack_keeps_the_training_account_as_source() -> None:
    prod_account = DEV_ACCOUNT.replace("rg-aoai-finetune-dev", "rg-openai-prod").replace("1a2b3c", "prod01")
    prod_outputs = {envnames.FINE_TUNED_MODEL: MODEL, envnames.AZURE_OPENAI_ACCOUNT_ID: prod_account,
                    "PROMOTED_FROM": {"stack": "my-org/aoai-finetune/dev", "model": MODEL, "accountId": DEV_ACCOUNT}}
    release = release_from_outputs("prod", prod_outputs)
    assert release.account_id == DEV_ACCOUNT  # the model lives where it was trained, not in prod's account
    ledger = Ledger()
    source_entry, target_entry = record_promotion(ledger, release, "prod-eu", applied=False, now=NOW)
    assert source_entry.promoted_from == "my-org/aoai-finetune/dev" and target_entry.promoted_from == "prod"


def test_promote_takes_the_deployed_checkpoint_the_figures_measured() -> None:
    from pipeline.promotion import release_from_outputs

    checkpoint = DEV_OUTPUTS[envnames.FINE_TUNED_MODEL] + ":ckpt-step-20"
    release = release_from_outputs("dev", {**DEV_OUTPUTS, envnames.DEPLOYED_MODEL: checkpoint})
    assert release.model == checkpoint
    assert release_from_outputs("dev", DEV_OUTPUTS).model == DEV_OUTPUTS[envnames.FINE_TUNED_MODEL]  # older stacks

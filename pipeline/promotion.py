"""Promote a trained model from one stack to another (dev -> prod) without training it again.

Three pieces, all plain Python (no Pulumi import):
- `release_from_outputs`: what a source stack runs, read from its outputs (`pipeline.stacks.read_stack_outputs`,
  or `pulumi stack output --json` saved to a file);
- `promotion_recipe`: the config values (and the `pulumi config set` lines) that make the target stack deploy it by
  `source` (the owning account's ARM id): pinned by default (sourceModel + sourceAccountId, so retraining dev
  does not change prod until the next promotion), or by reference (sourceStack, prod follows dev's outputs);
- the ledger, `.aoai-ft/promotions.json`: which model each environment runs, plus the history of promotions.

A source whose recorded evaluation (EVAL_PASS_RATE / EVAL_BASE_PASS_RATE outputs) misses the quality bar is
refused before any config is set or anything is recorded; the figures travel with a pinned promotion
(sourceEval* config) and are kept in the ledger.

Ledger shape (version 1):

    {"version": 1,
     "environments": {"dev":  {"environment": "dev", "model": "...", "account_id": "/subscriptions/...",
                               "status": "observed", "promoted_from": null, "at": "2026-11-27T21:30:00Z"},
                      "prod": {"environment": "prod", "model": "...", "account_id": "/subscriptions/...",
                               "status": "applied", "promoted_from": "dev", "at": "..."}},
     "history": [ ...every entry ever written, oldest first... ]}

`status`: `observed` = read from that stack's outputs (it runs the model now); `applied` = the target's config
was set (the model runs there once `pulumi up` succeeds, which needs the smoke test to pass); `pending` = the
recipe was only printed.
"""
from __future__ import annotations

import json
import os
import re
import shlex
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Final, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from pipeline import envnames
from pipeline.connection import ACCOUNT_ID_PATTERN
from pipeline.errors import PipelineError, UsageError, check_output, writing
from pipeline.evals.gate import EvalFigures, QualityBar, check_quality, figures_from_outputs

CONFIG_NAMESPACE: Final = "aoai-finetune"
"""The Pulumi project name = config namespace (must equal `infra.settings.PROJECT_NAME`; a test checks it)."""
PROMOTED_FROM: Final = envnames.PROMOTED_FROM
"""Stack output of a promoted stack: where its model came from (name kept in pipeline.envnames)."""
DEFAULT_LEDGER: Final = Path(".aoai-ft") / "promotions.json"
"""Ledger path, relative to the working directory (commit it, or keep it as a CI artifact)."""

_STACK_NAME_RE = re.compile(r"^[A-Za-z0-9_.-]+(/[A-Za-z0-9_.-]+){0,2}$")
FULL_STACK_PATTERN: Final = re.compile(r"^[A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+$")
"""A fully qualified stack reference, org/project/stack (what a StackReference needs)."""

class PromotionError(PipelineError):
    """The source cannot be promoted (nothing trained yet, bad outputs, bad stack names)."""


# ----- the source: what a stack runs -------------------------------------------------------------------------
class Release(BaseModel):
    """A fine-tuned model as one stack runs it, read from that stack's outputs."""

    model_config = ConfigDict(frozen=True)

    stack: str
    model: str
    account_id: str
    deployment: str | None = None
    smoke_test_answer: str | None = None
    promoted_from: dict[str, Any] | None = None
    evaluation: EvalFigures | None = None


def check_stack_name(name: str, *, option: str) -> str:
    """A stack name (`dev`, `org/dev` or `org/project/dev`), or a usage error naming the option."""
    if not _STACK_NAME_RE.match(name or ""):
        raise UsageError(f"{option} {name!r} is not a stack name",
                         hint="use a stack name such as dev, or org/project/dev")
    return name


def release_from_outputs(stack: str, outputs: Mapping[str, Any]) -> Release:
    """The model a stack runs and the account that owns it, from its outputs; refuses a stack with no model.

    The model is what the stack deploys (DEPLOYED_MODEL: the final model or the checkpoint `deployCheckpoint` chose,
    the one its evaluation figures measured), else FINE_TUNED_MODEL for stacks from before that output. The owner is
    the stack's own account, unless the stack was itself promoted (PROMOTED_FROM names the owner).
    """
    deployed = outputs.get(envnames.DEPLOYED_MODEL)
    model = deployed if isinstance(deployed, str) and deployed.strip() else outputs.get(envnames.FINE_TUNED_MODEL)
    if not isinstance(model, str) or not model.strip():
        raise PromotionError(
            f"stack {stack} has no {envnames.FINE_TUNED_MODEL} output: it has not produced a fine-tuned model",
            hint=f"run `pulumi up -s {stack}` until training and its smoke test succeed, then promote again",
        )
    promoted_from = outputs.get(PROMOTED_FROM)
    promoted_from = promoted_from if isinstance(promoted_from, dict) else None
    # A promoted stack (prod -> prod-eu) does not own its model: the account that trained it does.
    owner = (promoted_from or {}).get("accountId")
    account_id = owner if owner else outputs.get(envnames.AZURE_OPENAI_ACCOUNT_ID)
    if not isinstance(account_id, str) or not ACCOUNT_ID_PATTERN.match(account_id):
        raise PromotionError(
            f"stack {stack} has no usable {envnames.AZURE_OPENAI_ACCOUNT_ID} output (got {account_id!r})",
            hint="the target deploys the model by `source` = the ARM id of the account that trained it; "
                 f"run `pulumi up -s {stack}` with this project's program so it exports the account id",
        )
    deployment = outputs.get(envnames.AZURE_OPENAI_DEPLOYMENT)
    answer = outputs.get(envnames.SMOKE_TEST_ANSWER)
    return Release(
        stack=stack,
        model=model.strip(),
        account_id=account_id,
        deployment=deployment if isinstance(deployment, str) else None,
        smoke_test_answer=answer if isinstance(answer, str) else None,
        promoted_from=promoted_from,
        evaluation=figures_from_outputs(outputs),
    )


# ----- the recipe: pulumi config set ... ---------------------------------------------------------------------
class ConfigRecipe(BaseModel):
    """The calls that point `stack` at a release; `commands()` gives argv lists.

    `pulumi config set` on the stack by default; with `esc_environment`, `pulumi env set` of the environment's
    `pulumiConfig` instead (the stack then gets the values through `environment:` in its stack file).
    """

    model_config = ConfigDict(frozen=True)

    stack: str
    values: tuple[tuple[str, str], ...]
    cwd: Path | None = None
    esc_environment: str | None = None

    def qualified_values(self) -> list[tuple[str, str]]:
        """(`aoai-finetune:key`, value) pairs, as stack config names them."""
        return [(f"{CONFIG_NAMESPACE}:{key}", value) for key, value in self.values]

    def commands(self) -> list[list[str]]:
        if self.esc_environment:
            base = ["pulumi", "env", "set", "--string", self.esc_environment]
            return [[*base, f'pulumiConfig["{key}"]', value] for key, value in self.qualified_values()]
        base = ["pulumi", "config", "set", "--stack", self.stack]
        if self.cwd is not None:
            base += ["--cwd", str(self.cwd)]
        return [[*base, key, value] for key, value in self.qualified_values()]

    def shell_lines(self) -> list[str]:
        return [shlex.join(command) for command in self.commands()]


def qualified_stack(stack: str, *, org: str | None, project: str = CONFIG_NAMESPACE) -> str:
    """`org/project/stack` as a StackReference needs it; `stack` may already be qualified."""
    if FULL_STACK_PATTERN.match(stack):
        return stack
    parts = stack.split("/")
    if len(parts) == 2:  # org/stack
        return f"{parts[0]}/{project}/{parts[1]}"
    if not org:
        raise UsageError(
            f"a stack reference needs the organization: {stack!r} is not org/project/stack",
            hint=f"pass --org ORG (your Pulumi organization or user name), or --from ORG/{project}/{stack}",
        )
    return f"{org}/{project}/{stack}"


def promotion_recipe(release: Release, target: str, *, reference: str | None = None,
                     cwd: Path | None = None, esc_environment: str | None = None) -> ConfigRecipe:
    """Config for `target`: promote mode, and exactly one source (pinned model, or a stack reference)."""
    if target == release.stack or (reference and reference.split("/")[-1] == target):
        raise UsageError(f"cannot promote stack {target} to itself", hint="use --from dev --to prod")
    if esc_environment is not None and not _STACK_NAME_RE.match(esc_environment):
        raise UsageError(f"--esc {esc_environment!r} is not an ESC environment name",
                         hint="use [org/]project/environment, e.g. my-org/aoai-finetune/prod")
    values: list[tuple[str, str]] = [("mode", "promote")]
    if reference:  # the target reads model and figures from the source's outputs on every `pulumi up`
        values += [("sourceStack", reference), ("sourceModel", ""), ("sourceAccountId", ""),
                   ("sourceEvalPassRate", ""), ("sourceEvalBasePassRate", ""), ("sourceEvalRunId", "")]
    else:
        figures = release.evaluation
        values += [("sourceModel", release.model), ("sourceAccountId", release.account_id), ("sourceStack", ""),
                   ("sourceEvalPassRate", _number(figures.pass_rate if figures else None)),
                   ("sourceEvalBasePassRate", _number(figures.base_pass_rate if figures else None)),
                   ("sourceEvalRunId", (figures.run_id or "") if figures else "")]
    return ConfigRecipe(stack=target, values=tuple(values), cwd=cwd, esc_environment=esc_environment)


def _number(value: float | None) -> str:
    return "" if value is None else f"{value:g}"


def parse_outputs(text: str, *, source: str) -> dict[str, Any]:
    """The JSON object `pulumi stack output --json` prints; anything else is a usage error."""
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise UsageError(f"{source} is not JSON: {exc}", hint="give the output of `pulumi stack output --json`") from None
    if not isinstance(data, dict):
        raise UsageError(f"{source} is not a JSON object of stack outputs",
                         hint="give the output of `pulumi stack output --json`")
    return data


# ----- the ledger --------------------------------------------------------------------------------------------
class LedgerEntry(BaseModel):
    """Which model one environment runs (or is configured to run), and since when."""

    environment: str
    model: str
    account_id: str
    status: Literal["observed", "applied", "pending"]
    promoted_from: str | None = None
    at: datetime
    evaluation: dict[str, Any] | None = None  # evalPassRate, evalBasePassRate, evalRunId of the model


class Ledger(BaseModel):
    """Every environment's current model, and the history of every entry written."""

    version: Literal[1] = 1
    environments: dict[str, LedgerEntry] = Field(default_factory=dict)
    history: list[LedgerEntry] = Field(default_factory=list)

    def record(self, entry: LedgerEntry) -> None:
        self.environments[entry.environment] = entry
        self.history.append(entry)


def load_ledger(path: Path) -> Ledger:
    """The ledger at `path`; a missing file is an empty ledger, a damaged one a usage error."""
    if not path.exists():
        return Ledger()
    try:
        return Ledger.model_validate_json(path.read_bytes())
    except ValidationError as exc:
        raise UsageError(f"{path} is not a promotion ledger: {exc.errors()[0]['msg']}",
                         hint="fix or move the file away; a new one is started when it is missing") from None


def save_ledger(ledger: Ledger, path: Path) -> Path:
    """Write atomically (temp file + rename) so an interrupted run never leaves half a ledger."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(ledger.model_dump_json(indent=2) + "\n", encoding="utf-8")
    os.replace(tmp, path)
    return path


def record_promotion(ledger: Ledger, release: Release, target: str, *, applied: bool,
                     now: datetime | None = None) -> tuple[LedgerEntry, LedgerEntry]:
    """Record that the source runs `release` and that `target` now runs (applied) or should run (pending) it."""
    now = now or datetime.now(timezone.utc)
    evaluation = release.evaluation.record() if release.evaluation is not None else None
    source_entry = LedgerEntry(environment=release.stack, model=release.model, account_id=release.account_id,
                               status="observed",
                               promoted_from=(release.promoted_from or {}).get("stack"), at=now, evaluation=evaluation)
    target_entry = LedgerEntry(environment=target, model=release.model, account_id=release.account_id,
                               status="applied" if applied else "pending", promoted_from=release.stack, at=now,
                               evaluation=evaluation)
    ledger.record(source_entry)
    ledger.record(target_entry)
    return source_entry, target_entry


def promote(
    source: str,
    target: str,
    *,
    outputs: Mapping[str, Any],
    ledger_path: Path = DEFAULT_LEDGER,
    reference: str | None = None,
    esc_environment: str | None = None,
    apply_with: Callable[[ConfigRecipe], None] | None = None,
    cwd: Path | None = None,
    now: datetime | None = None,
    bar: QualityBar | None = None,
) -> tuple[Release, ConfigRecipe, LedgerEntry]:
    """The whole promotion: read the release, check its evaluation against `bar` (default: `QualityBar()`),
    build the recipe, set it with `apply_with` (`pipeline.stacks.apply_recipe`; None = only print it) and record
    it in the ledger. A release below the bar changes nothing."""
    check_stack_name(source, option="--from")
    check_stack_name(target, option="--to")
    release = release_from_outputs(source, outputs)
    check_quality(release.evaluation, bar or QualityBar(), subject=f"the model of stack {source}",
                  hint=f"retrain or improve the data until `pulumi up -s {source}` passes its evaluation, or lower "
                       "the bar with --min-pass-rate / --min-improvement (and minEvalPassRate / minImprovementOverBase "
                       f"on stack {target}, which checks the figures again)")
    recipe = promotion_recipe(release, target, reference=reference, cwd=cwd, esc_environment=esc_environment)
    ledger = load_ledger(ledger_path)  # before applying: a damaged ledger must not leave config half-changed
    check_output(ledger_path, option="--ledger")  # nor one that cannot be written
    if apply_with is not None:
        apply_with(recipe)
    _, target_entry = record_promotion(ledger, release, target, applied=apply_with is not None, now=now)
    with writing(ledger_path, option="--ledger"):
        save_ledger(ledger, ledger_path)
    return release, recipe, target_entry


def promoted_from_record(*, stack: str | None, model: str, account_id: str,
                         evaluation: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """The PROMOTED_FROM output's value (the program builds it with Outputs; this is its plain shape), with the
    source's evaluation figures (evalPassRate, evalBasePassRate, evalRunId) when it had them."""
    return {"stack": stack, "model": model, "accountId": account_id, **(evaluation or {})}


__all__: Sequence[str] = (
    "CONFIG_NAMESPACE", "DEFAULT_LEDGER", "PROMOTED_FROM", "ConfigRecipe", "Ledger", "LedgerEntry",
    "PromotionError", "Release", "load_ledger", "parse_outputs", "promote", "promotion_recipe",
    "qualified_stack", "record_promotion", "release_from_outputs", "save_ledger",
)

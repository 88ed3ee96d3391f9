"""`aoai-ft promote --from dev --to prod`: point the prod stack at dev's trained model and record it."""
from __future__ import annotations

import shutil
from pathlib import Path

import click
from rich.table import Table

from pipeline.commands._options import console
from pipeline.evals.gate import DEFAULT_MIN_IMPROVEMENT
from pipeline.promotion import DEFAULT_LEDGER


@click.command("promote")
@click.option("--from", "source", metavar="STACK", help="Stack that trained and smoke-tested the model (e.g. dev).")
@click.option("--to", "target", metavar="STACK", help="Stack to deploy it to (e.g. prod); it trains nothing.")
@click.option("--from-json", "from_json", type=click.File("r"), metavar="FILE",
              help="Source outputs from FILE ('-' = stdin) instead of `pulumi stack output --json -s SOURCE`.")
@click.option("--by-reference", is_flag=True,
              help="Set sourceStack (prod follows dev's outputs on every `pulumi up`) instead of pinning "
                   "sourceModel + sourceAccountId (the default: prod changes only when promoted again).")
@click.option("--org", metavar="ORG", help="Pulumi organization, for --by-reference when --from is not org/project/stack.")
@click.option("--esc", "esc_environment", metavar="ENV",
              help="Set the values in this Pulumi ESC environment's pulumiConfig (`pulumi env set`) instead of "
                   "the target stack's own config, e.g. my-org/aoai-finetune/prod.")
@click.option("--apply", is_flag=True,
              help="Set the values (one `pulumi config set-all`, or `pulumi env set` with --esc) instead of only "
                   "printing them.")
@click.option("--cwd", type=click.Path(file_okay=False, path_type=Path), help="Pulumi project directory.")
@click.option("--ledger", type=click.Path(dir_okay=False, path_type=Path), default=DEFAULT_LEDGER, show_default=True,
              help="JSON file recording which model each environment runs.")
@click.option("--list", "list_only", is_flag=True, help="Only show the ledger: which model each environment runs.")
@click.option("--min-pass-rate", type=click.FloatRange(0, 1), default=None, metavar="RATE",
              help="Refuse a source whose held-out pass rate (EVAL_PASS_RATE) is below RATE (0..1).")
@click.option("--min-improvement", type=click.FloatRange(-1, 1), default=DEFAULT_MIN_IMPROVEMENT, show_default=True,
              metavar="POINTS", help="Refuse a source whose pass rate beats the base model's by less (0.1 = 10 points).")
def promote(source: str | None, target: str | None, from_json, by_reference: bool, org: str | None,
            esc_environment: str | None, apply: bool, cwd: Path | None, ledger: Path, list_only: bool,
            min_pass_rate: float | None, min_improvement: float) -> None:
    """Promote the model SOURCE trained to TARGET, without training again.

    Reads SOURCE's outputs (FINE_TUNED_MODEL, AZURE_OPENAI_ACCOUNT_ID), prints the `pulumi config set`
    commands that make TARGET deploy that model by `source` (the training account's ARM id), runs them
    with --apply, and records the promotion in the ledger. TARGET's `pulumi up` then deploys the model and
    fails unless its smoke test passes.

    SOURCE's recorded evaluation (EVAL_PASS_RATE, EVAL_BASE_PASS_RATE) must clear the quality bar first;
    a source below it (or with no evaluation) is refused, naming the figures, and nothing is set or recorded.

    \b
    Examples:
      aoai-ft promote --from dev --to prod                 # print the recipe, record it as pending
      aoai-ft promote --from dev --to prod --apply && pulumi up -s prod
      pulumi stack output --json -s dev > dev.json && aoai-ft promote --from dev --to prod --from-json dev.json
      aoai-ft promote --from dev --to prod --by-reference --org my-org
      aoai-ft promote --from dev --to prod --esc my-org/aoai-finetune/prod --apply
      aoai-ft promote --list
    """
    from pipeline.errors import UsageError
    from pipeline.promotion import load_ledger, parse_outputs, promote as run_promotion, qualified_stack
    from pipeline.stacks import apply_recipe, read_stack_outputs

    err = console(stderr=True)
    if list_only:
        _print_ledger(load_ledger(ledger), ledger)
        return
    if not source or not target:
        raise UsageError("promote needs --from and --to", hint="aoai-ft promote --from dev --to prod")
    if from_json is not None:
        from pipeline.envfile import read_outputs_file

        outputs = parse_outputs(read_outputs_file(from_json), source=from_json.name)
    elif shutil.which("pulumi"):
        outputs = read_stack_outputs(source, cwd=cwd)
    else:
        raise UsageError("pulumi is not installed and no source outputs were given",
                         hint=f"pass --from-json FILE with the output of `pulumi stack output --json -s {source}`")
    reference = qualified_stack(source, org=org) if by_reference else None
    from pipeline.evals.gate import QualityBar

    bar = QualityBar(min_pass_rate=min_pass_rate, min_improvement=min_improvement)
    release, recipe, entry = run_promotion(source, target, outputs=outputs, ledger_path=ledger, reference=reference,
                                           esc_environment=esc_environment, apply_with=apply_recipe if apply else None,
                                           cwd=cwd, bar=bar)

    err.print(f"[bold]{release.stack}[/] runs [bold]{release.model}[/]")
    err.print(f"  trained in {release.account_id}")
    if release.evaluation is not None:
        err.print(f"  its evaluation: {release.evaluation.describe()} - clears the bar ({bar.describe()})")
    if release.smoke_test_answer:
        err.print(f"  its smoke test answered: {release.smoke_test_answer[:120]!r}")
    else:
        err.print(f"  [yellow]warning[/]: {release.stack} reports no smoke-test answer; check it before prod")
    how = f"by reference to {reference}" if reference else "pinned to this model"
    where = f"ESC environment {esc_environment} (imported by stack {target})" if esc_environment else f"stack {target}"
    if apply:
        err.print(f"set {len(recipe.values):,} config values on {where} ({how}):")
    else:
        err.print(f"to point {where} at it ({how}), run (or re-run with --apply):")
    click.echo("\n".join(recipe.shell_lines()))
    err.print(f"then: pulumi up -s {target}   (deploys by source, no training; fails unless the smoke test passes)")
    err.print(f"recorded in {ledger}: {target} -> {entry.model} ({entry.status})")


def _print_ledger(ledger, path: Path) -> None:
    if not ledger.environments:
        click.echo(f"no promotions recorded in {path} yet")
        return
    widest_model = max(len(entry.model) for entry in ledger.environments.values())
    table = Table(title=f"environments ({path})")
    table.add_column("environment")
    table.add_column("model", no_wrap=True, min_width=widest_model)  # never cut a model id short
    for column in ("status", "from", "since (UTC)"):
        table.add_column(column)
    for name, entry in sorted(ledger.environments.items()):
        table.add_row(name, entry.model, entry.status, entry.promoted_from or "-",
                      entry.at.strftime("%Y-%m-%d %H:%M"))
    console().print(table)

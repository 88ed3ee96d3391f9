"""`aoai-ft sweep`: delete the account's deployments whose `aoai-ft-expires-at` tag has passed."""
from __future__ import annotations

from datetime import datetime, timezone

import click
from rich.table import Table

from pipeline.commands._options import arm_account_options, console


def _parse_now(ctx: click.Context, param: click.Parameter, value: str | None) -> datetime | None:
    if value is None:
        return None
    from pipeline.sweep import parse_expiry

    parsed = parse_expiry(value)
    if parsed is None:
        raise click.BadParameter(f"{value!r} is not an ISO-8601 time such as 2026-11-28T09:00:00Z")
    return parsed


@click.command("sweep")
@arm_account_options
@click.option("--dry-run", is_flag=True, help="Only list what would be deleted.")
@click.option("--now", callback=_parse_now, metavar="TIME",
              help="Sweep as if it were TIME (ISO-8601), e.g. to see what expires by tomorrow.")
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON.")
def sweep(subscription: str, resource_group: str, account: str, dry_run: bool, now: datetime | None,
          arm_endpoint: str | None, as_json: bool) -> None:
    """Delete deployments whose TTL tag `aoai-ft-expires-at` is in the past.

    Dev stacks set the tag with `deploymentTtlHours`; deployments without it are never touched, and a tag
    that cannot be read is reported and kept. Run it on a schedule (cron, a scheduled CI job).

    \b
    Examples:
      eval "$(aoai-ft env)" && aoai-ft sweep --dry-run
      aoai-ft sweep --subscription $SUB --resource-group rg-aoai-finetune-dev --account aoai-finetune-1a2b3c
    """
    from pipeline.arm import management_client
    from pipeline.sweep import EXPIRES_AT_TAG, sweep_expired

    out = console()
    arm = management_client(subscription, endpoint=arm_endpoint, polling_interval=1)
    with out.status(f"checking deployments of {account} ..."):
        report = sweep_expired(arm, resource_group, account, now=now or datetime.now(timezone.utc), dry_run=dry_run)
    if as_json:
        click.echo(report.model_dump_json(indent=2))
        return
    table = Table(title=f"{account} at {report.now:%Y-%m-%d %H:%M:%S} UTC" + (" (dry run)" if dry_run else ""))
    for column in ("deployment", "model", "sku", EXPIRES_AT_TAG, "action"):
        table.add_column(column)
    for item in report.items:
        expires = item.expires_at.strftime("%Y-%m-%d %H:%M") if item.expires_at else "-"
        table.add_row(item.deployment, item.model or "-", item.sku or "-", expires, item.action)
    out.print(table)
    verb = "would delete" if dry_run else "deleted"
    out.print(f"{verb} {len(report.removed):,} of {len(report.items):,} deployment(s)")
    for item in report.items:
        if item.action == "bad-tag":
            out.print(f"[yellow]warning[/]: {item.deployment}: {item.detail}")

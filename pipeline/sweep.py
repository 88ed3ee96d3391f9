"""Delete model deployments whose TTL tag has passed (cost control for dev accounts).

A Standard/GlobalStandard fine-tuned deployment is billed every hour it exists, used or not. Dev stacks can set
`deploymentTtlHours`; the deployment then carries the tag `aoai-ft-expires-at` (ISO-8601, UTC), and
`aoai-ft sweep` (run it on a schedule) deletes the ones that are past it. Deployments without the tag are never
touched; a tag that cannot be read is reported and kept, so a typo never deletes anything.
"""
from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import TYPE_CHECKING, Any, Final, Literal

from azure.core.exceptions import HttpResponseError
from pydantic import BaseModel

from pipeline.deploy import delete_deployment
from pipeline.errors import ServiceError

if TYPE_CHECKING:
    from azure.mgmt.cognitiveservices import CognitiveServicesManagementClient

EXPIRES_AT_TAG: Final = "aoai-ft-expires-at"
"""Deployment tag holding the expiry time (ISO-8601 UTC, e.g. 2026-11-28T09:00:00Z)."""

Action = Literal["deleted", "would-delete", "kept", "no-ttl", "bad-tag", "gone"]


def expiry_tag(ttl_hours: int, *, now: datetime | None = None) -> dict[str, str]:
    """The tag to put on a deployment that should be swept `ttl_hours` from `now`."""
    now = now or datetime.now(timezone.utc)
    expires = (now.astimezone(timezone.utc) + timedelta(hours=ttl_hours)).replace(microsecond=0)
    return {EXPIRES_AT_TAG: expires.strftime("%Y-%m-%dT%H:%M:%SZ")}


def parse_expiry(value: str) -> datetime | None:
    """An aware UTC datetime from the tag value (a time without zone counts as UTC); None if unreadable."""
    try:
        parsed = datetime.fromisoformat(value.strip())
    except (ValueError, AttributeError):
        return None
    return parsed.replace(tzinfo=timezone.utc) if parsed.tzinfo is None else parsed.astimezone(timezone.utc)


class SweepItem(BaseModel):
    """One deployment and what the sweep did with it."""

    deployment: str
    model: str | None = None
    sku: str | None = None
    expires_at: datetime | None = None
    action: Action
    detail: str = ""


class SweepReport(BaseModel):
    account: str
    resource_group: str
    now: datetime
    dry_run: bool
    items: list[SweepItem]

    @property
    def removed(self) -> list[SweepItem]:
        return [i for i in self.items if i.action in ("deleted", "would-delete")]


def _describe(deployment: Any) -> tuple[str | None, str | None]:
    model = getattr(getattr(getattr(deployment, "properties", None), "model", None), "name", None)
    sku = getattr(getattr(deployment, "sku", None), "name", None)
    return model, sku


def sweep_expired(
    arm_client: "CognitiveServicesManagementClient",
    resource_group: str,
    account_name: str,
    *,
    now: datetime | None = None,
    dry_run: bool = False,
    timeout: float = 1800,
    retry_delay: float = 2.0,
) -> SweepReport:
    """Delete (or, with `dry_run`, list) every deployment of the account whose expiry tag is at or before `now`."""
    now = (now or datetime.now(timezone.utc)).astimezone(timezone.utc)
    try:
        deployments = list(arm_client.deployments.list(resource_group, account_name))
    except HttpResponseError as exc:
        raise ServiceError(f"could not list deployments of {account_name}: HTTP {exc.status_code} {exc.message}",
                           hint="check --subscription, --resource-group and --account, and `az login`") from exc
    items: list[SweepItem] = []
    for deployment in sorted(deployments, key=lambda d: d.name):
        model, sku = _describe(deployment)
        tag = (deployment.tags or {}).get(EXPIRES_AT_TAG)
        base = dict(deployment=deployment.name, model=model, sku=sku)
        if tag is None:
            items.append(SweepItem(**base, action="no-ttl"))
            continue
        expires = parse_expiry(tag)
        if expires is None:
            items.append(SweepItem(**base, action="bad-tag",
                                   detail=f"{EXPIRES_AT_TAG}={tag!r} is not an ISO-8601 time; kept"))
            continue
        if expires > now:
            items.append(SweepItem(**base, expires_at=expires, action="kept", detail=f"expires in {expires - now}"))
            continue
        if dry_run:
            items.append(SweepItem(**base, expires_at=expires, action="would-delete", detail=f"expired {now - expires} ago"))
            continue
        existed = delete_deployment(arm_client, resource_group, account_name, deployment.name, timeout=timeout,
                                    retry_delay=retry_delay)
        items.append(SweepItem(**base, expires_at=expires, action="deleted" if existed else "gone",
                               detail=f"expired {now - expires} ago"))
    return SweepReport(account=account_name, resource_group=resource_group, now=now, dry_run=dry_run, items=items)

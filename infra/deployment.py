"""A model deployment on an `OpenAIAccount` (the lab's Task 8), shared by the train and promote modes.

ARM accepts one deployment write per account at a time (a second one gets 409 RequestConflict), so every
deployment made through `model_deployment` on the same account depends on the previous one: Pulumi then
creates them one after the other. The TTL tag records when the deployment may be removed (`aoai-ft sweep`);
it is set when the deployment is created and not moved on later `pulumi up`s, so previews stay quiet.
"""
from __future__ import annotations

import weakref
from datetime import datetime
from typing import Final

import pulumi
from pulumi_azure_native import cognitiveservices

from infra.account import OpenAIAccount
from infra.settings import StackSettings
from pipeline.sweep import EXPIRES_AT_TAG, expiry_tag  # the tag `aoai-ft sweep` reads, written one way

__all__ = ["EXPIRES_AT_TAG", "TTL_HOURS_TAG", "deployment_tags", "model_deployment"]

TTL_HOURS_TAG: Final = "aoai-ft-ttl-hours"
BILLING_WARNING: Final = (
    "deployment {name} ({sku}): a fine-tuned model deployment is billed for hosting every hour it exists, whether "
    "or not it gets any traffic, and Azure deletes a deployment that has had no calls for 15 days (the fine-tuned "
    "model itself stays and can be deployed again). Run `pulumi destroy`, or set deploymentTtlHours, when done."
)
DEVELOPER_TIER_NOTE: Final = (
    "deployment {name} uses DeveloperTier: no hourly hosting fee, but no SLA, and Azure removes it after 24 hours."
)

_last_deployment: "weakref.WeakKeyDictionary[OpenAIAccount, cognitiveservices.Deployment]" = weakref.WeakKeyDictionary()
"""The most recent deployment declared on each account in this program run (to chain the next one after it)."""


def deployment_tags(settings: StackSettings, *, now: datetime | None = None) -> dict[str, str]:
    """The stack's tags, plus the TTL tags when deploymentTtlHours is set."""
    tags = dict(settings.tags)
    if settings.deployment_ttl_hours:
        tags.update(expiry_tag(settings.deployment_ttl_hours, now=now))
        tags[TTL_HOURS_TAG] = str(settings.deployment_ttl_hours)
    return tags


def warn_about_billing(name: str, settings: StackSettings) -> None:
    """`pulumi.log.warn` on every `pulumi up`/preview that has a deployment."""
    if settings.deployment_sku == "DeveloperTier":
        pulumi.log.warn(DEVELOPER_TIER_NOTE.format(name=name))
    else:
        pulumi.log.warn(BILLING_WARNING.format(name=name, sku=settings.deployment_sku))


def model_deployment(
    name: str,
    *,
    account: OpenAIAccount,
    resource_group_name: pulumi.Input[str],
    model_name: pulumi.Input[str],
    settings: StackSettings,
    source_account_id: pulumi.Input[str] | None = None,
    deployment_name: str | None = None,
    opts: pulumi.ResourceOptions | None = None,
    model_version: str = "1",
    sku_name: str | None = None,
    billing_note: bool = True,
) -> cognitiveservices.Deployment:
    """`cognitiveservices.Deployment` of `model_name` (format OpenAI, version "1") with the stack's sku/capacity.

    `source_account_id` deploys a model trained on another account (cross-resource promotion). A base model
    passes its own `model_version` and `sku_name`, and `billing_note=False` (no hourly hosting fee to warn about).
    """
    deployment_name = deployment_name or settings.effective_deployment_name
    previous = _last_deployment.get(account)
    chain = pulumi.ResourceOptions(
        parent=account,
        depends_on=[previous] if previous is not None else [],
        ignore_changes=[f'tags["{EXPIRES_AT_TAG}"]'],
    )
    deployment = cognitiveservices.Deployment(
        name,
        account_name=account.name,
        resource_group_name=resource_group_name,
        deployment_name=deployment_name,
        properties=cognitiveservices.DeploymentPropertiesArgs(
            model=cognitiveservices.DeploymentModelArgs(
                format="OpenAI", name=model_name, version=model_version, source=source_account_id,
            ),
        ),
        sku=cognitiveservices.SkuArgs(name=sku_name or settings.deployment_sku, capacity=settings.deployment_capacity),
        tags=deployment_tags(settings),
        opts=pulumi.ResourceOptions.merge(chain, opts),
    )
    _last_deployment[account] = deployment
    if billing_note:
        warn_about_billing(deployment_name, settings)
    return deployment

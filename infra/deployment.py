"""`ServedModel`: a model served on an `OpenAIAccount` - the deployment (the lab's Task 8) and, optionally, the smoke
test asking it the lab's question (Task 9). One component for the train and promote modes.

ARM accepts one deployment write per account at a time (a second one gets 409 RequestConflict): a second
`ServedModel` on the same account takes `depends_on=[the first]` (a component dependency waits for all its
children), so Pulumi creates them one after the other. The TTL tag records when the deployment may be removed
(`aoai-ft sweep`); it is set when the deployment is created and not moved on later `pulumi up`s, so previews stay
quiet. Earlier versions declared the deployment under the account and the smoke test at the stack's root; aliases
keep those resources (no replacement) in existing stacks.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Final

import pulumi
from pulumi_azure_native import cognitiveservices

from infra.account import OpenAIAccount
from infra.settings import StackSettings
from infra.smoke_test import SmokeTest, SmokeTestArgs
from pipeline.chat import SMOKE_TEST_QUESTION
from pipeline.sweep import EXPIRES_AT_TAG, expiry_tag  # the tag `aoai-ft sweep` reads, written one way

__all__ = ["COMPONENT_TYPE", "EXPIRES_AT_TAG", "TTL_HOURS_TAG", "ServedModel", "ServedModelArgs", "deployment_tags"]

COMPONENT_TYPE: Final = "aoai-finetune:index:ServedModel"
TTL_HOURS_TAG: Final = "aoai-ft-ttl-hours"
BILLING_WARNING: Final = (
    "deployment {name} ({sku}): a fine-tuned model deployment is billed for hosting every hour it exists, whether "
    "or not it gets any traffic, and Azure deletes a deployment that has had no calls for 15 days (the fine-tuned "
    "model itself stays and can be deployed again). Run `pulumi destroy`, or set deploymentTtlHours, when done."
)
DEVELOPER_TIER_NOTE: Final = (
    "deployment {name} uses DeveloperTier: no hourly hosting fee, but no SLA, and Azure removes it after 24 hours."
)

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


@dataclass(frozen=True)
class ServedModelArgs:
    """Which model to serve on which account, and how. A base model passes its own `model_version` (and
    `billing_note=False`: no hourly hosting fee to warn about); `source_account_id` deploys a model trained on
    another account (cross-resource promotion)."""

    account: OpenAIAccount
    account_id: str
    resource_group_name: pulumi.Input[str]
    model_name: pulumi.Input[str]
    settings: StackSettings
    deployment_name: str | None = None
    model_version: str = "1"
    sku_name: str | None = None
    source_account_id: pulumi.Input[str] | None = None
    smoke_test: bool = False
    billing_note: bool = True
    deployment_resource: str = "deployment"
    smoke_test_resource: str = "smoke-test"
    """Child resource names (kept from earlier versions, so aliases find the existing resources)."""


class ServedModel(pulumi.ComponentResource):
    """The deployment of one model (+ its smoke test); outputs `deployment_name` and `answer`."""

    deployment: cognitiveservices.Deployment
    smoke_test: SmokeTest | None
    deployment_name: pulumi.Output[str]
    answer: pulumi.Output[str] | None

    def __init__(self, resource_name: str, args: ServedModelArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__(COMPONENT_TYPE, resource_name, None,
                         pulumi.ResourceOptions.merge(pulumi.ResourceOptions(parent=args.account), opts))
        settings = args.settings
        name = args.deployment_name or settings.effective_deployment_name
        self.deployment = cognitiveservices.Deployment(
            args.deployment_resource,
            account_name=args.account.name,
            resource_group_name=args.resource_group_name,
            deployment_name=name,
            properties=cognitiveservices.DeploymentPropertiesArgs(
                model=cognitiveservices.DeploymentModelArgs(
                    format="OpenAI", name=args.model_name, version=args.model_version, source=args.source_account_id,
                ),
            ),
            sku=cognitiveservices.SkuArgs(name=args.sku_name or settings.deployment_sku,
                                          capacity=settings.deployment_capacity),
            tags=deployment_tags(settings),
            opts=pulumi.ResourceOptions(parent=self, ignore_changes=[f'tags["{EXPIRES_AT_TAG}"]'],
                                        aliases=[pulumi.Alias(parent=args.account)]),
        )
        self.deployment_name = self.deployment.name
        if args.billing_note:
            warn_about_billing(name, settings)
        self.smoke_test = None
        self.answer = None
        if args.smoke_test:
            self.smoke_test = SmokeTest(
                args.smoke_test_resource,
                SmokeTestArgs(account_id=args.account_id, deployment_name=self.deployment.name,
                              question=SMOKE_TEST_QUESTION, model=args.model_name),
                # asks as the identity running `pulumi up` when keyless: after its role assignments (and the private
                # endpoint with its DNS, when the account has one) exist
                opts=pulumi.ResourceOptions(parent=self,
                                            depends_on=[self.deployment, *args.account.data_plane_access],
                                            aliases=[pulumi.Alias(parent=pulumi.ROOT_STACK_RESOURCE)]),
            )
            self.answer = self.smoke_test.answer
        self.register_outputs({"deployment_name": self.deployment_name, "answer": self.answer})


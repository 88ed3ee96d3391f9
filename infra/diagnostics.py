"""`AccountDiagnostics`: who called what - the account's logs and metrics in Log Analytics.

A diagnostic setting on the account sends the Audit, RequestResponse and Trace log categories and AllMetrics to a
Log Analytics workspace: the team's own (`logAnalyticsWorkspaceId`), or one this component creates in the stack's
resource group. Without it, Azure keeps the account's platform metrics for 93 days and no request log at all.
"""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Final

import pulumi
from pulumi_azure_native import monitor, operationalinsights

COMPONENT_TYPE: Final = "aoai-finetune:index:AccountDiagnostics"
LOG_CATEGORIES: Final = ("Audit", "RequestResponse", "Trace")
"""The log categories Azure OpenAI (Cognitive Services) accounts emit."""
METRIC_CATEGORIES: Final = ("AllMetrics",)
SETTING_NAME: Final = "aoai-finetune-to-log-analytics"
WORKSPACE_RETENTION_DAYS: Final = 30
"""Log Analytics' included retention; longer is billed per GB and month."""


@dataclass(frozen=True)
class AccountDiagnosticsArgs:
    """The account to watch; the workspace to send to (empty = create `workspace_name` in the resource group)."""

    account_id: pulumi.Input[str]
    resource_group_name: pulumi.Input[str]
    location: str
    workspace_id: str = ""
    workspace_name: str = ""
    tags: Mapping[str, str] = field(default_factory=dict)


class AccountDiagnostics(pulumi.ComponentResource):
    """Diagnostic setting (+ the Log Analytics workspace when none is given)."""

    workspace: operationalinsights.Workspace | None
    setting: monitor.DiagnosticSetting
    workspace_id: pulumi.Output[str]

    def __init__(self, resource_name: str, args: AccountDiagnosticsArgs,
                 opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__(COMPONENT_TYPE, resource_name, None, opts)
        self.workspace = None
        if args.workspace_id:
            self.workspace_id = pulumi.Output.from_input(args.workspace_id)
        else:
            if not args.workspace_name:
                raise ValueError("AccountDiagnosticsArgs needs workspace_id or workspace_name")
            self.workspace = operationalinsights.Workspace(
                f"{resource_name}-workspace",
                workspace_name=args.workspace_name,
                resource_group_name=args.resource_group_name,
                location=args.location,
                sku=operationalinsights.WorkspaceSkuArgs(name=operationalinsights.WorkspaceSkuNameEnum.PER_GB2018),
                retention_in_days=WORKSPACE_RETENTION_DAYS,
                tags=dict(args.tags),
                opts=pulumi.ResourceOptions(parent=self),
            )
            self.workspace_id = self.workspace.id
        self.setting = monitor.DiagnosticSetting(
            f"{resource_name}-setting",
            name=SETTING_NAME,
            resource_uri=args.account_id,
            workspace_id=self.workspace_id,
            logs=[monitor.DiagnosticsLogSettingsArgs(category=name, enabled=True) for name in LOG_CATEGORIES],
            metrics=[monitor.DiagnosticsMetricSettingsArgs(category=name, enabled=True) for name in METRIC_CATEGORIES],
            opts=pulumi.ResourceOptions(parent=self),
        )
        self.register_outputs({"workspace_id": self.workspace_id, "setting_id": self.setting.id})

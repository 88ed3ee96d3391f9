"""`aoai-ft deploy`: deploy a fine-tuned model through Azure Resource Manager and wait until it serves."""
from __future__ import annotations

import click

from pipeline import envnames
from pipeline.commands._options import arm_account_options, console
from pipeline.deploy import SKUS, is_fine_tuned


@click.command("deploy")
@click.option("--model", envvar=envnames.FINE_TUNED_MODEL, show_envvar=True, metavar="MODEL",
              help="Fine-tuned model (the job's fine_tuned_model), a checkpoint, or a base model such as "
                   "gpt-4o-mini-2024-07-18 (deployed as name gpt-4o-mini, version 2024-07-18).")
@click.option("--deployment", envvar=envnames.AZURE_OPENAI_DEPLOYMENT, show_envvar=True, required=True,
              metavar="NAME", help="Deployment name to create or update.")
@click.option("--sku", type=click.Choice(SKUS), default="Standard", show_default=True,
              help="Standard (regional, hourly hosting fee), GlobalStandard, or DeveloperTier (no hosting fee, "
                   "deleted after 24 h).")
@click.option("--capacity", type=click.IntRange(min=1), default=1, show_default=True,
              help="Capacity in units of 1,000 tokens per minute.")
@arm_account_options
@click.option("--source", metavar="ARM_ID", help="ARM id of the account that owns the model (cross-resource).")
@click.option("--timeout", type=click.FloatRange(min=1), default=3600, show_default=True,
              help="Seconds to wait for the deployment to succeed.")
@click.option("--max-retries", type=click.IntRange(0, 20), default=5, show_default=True,
              help="Retries of each ARM request on 429/5xx and connection errors: the first at once, then 1, 2, "
                   "4, 8 s apart (honours Retry-After).")
@click.option("--delete", "delete", is_flag=True, help="Delete the deployment instead of creating it.")
def deploy(model: str | None, deployment: str, sku: str, capacity: int, subscription: str, resource_group: str,
           account: str, source: str | None, arm_endpoint: str | None, timeout: float, max_retries: int,
           delete: bool) -> None:
    """Create or update deployment NAME of a model (fine-tuned, a checkpoint, or base) and wait until it has
    Succeeded.

    Signs in with azure-identity (az login, environment, managed identity); no token to paste.
    Deployment writes on one account are serialised by ARM: a 409 RequestConflict is retried.

    \b
    Examples:
      aoai-ft deploy --model gpt-4o-mini-2024-07-18.ft-0123abcd --deployment teacher \\
          --subscription $AZURE_SUBSCRIPTION_ID --resource-group rg-aoai --account aoai-ft-dev
      eval "$(aoai-ft env)" && aoai-ft deploy --deployment teacher --sku DeveloperTier
      aoai-ft deploy --deployment teacher --delete
    """
    from pipeline.arm import arm_endpoint as resolve_arm_endpoint, management_client
    from pipeline.deploy import (
        DeploymentSpec, check_deployment_name, delete_deployment, delete_interrupted, deploy_interrupted, deploy_model,
        model_reference,
    )
    from pipeline.errors import UsageError, on_ctrl_c

    out = console()
    check_deployment_name(deployment)  # before any request: nothing is touched for a bad name
    arm_url = resolve_arm_endpoint(arm_endpoint)
    arm = management_client(subscription, endpoint=arm_url, polling_interval=1, max_retries=max_retries)
    if delete:
        with (out.status(f"deleting deployment {deployment} ..."),
              on_ctrl_c(lambda: delete_interrupted(resource_group, account, deployment))):
            existed = delete_deployment(arm, resource_group, account, deployment, timeout=timeout, arm_url=arm_url)
        out.print(f"deployment {deployment}: {'deleted' if existed else 'did not exist'}")
        return
    if not model:
        raise UsageError("no model to deploy", hint=f"pass --model or set {envnames.FINE_TUNED_MODEL}")
    name, version = model_reference(model)
    spec = DeploymentSpec(subscription_id=subscription, resource_group=resource_group, account_name=account,
                          deployment_name=deployment, model=name, model_version=version, sku_name=sku,
                          capacity=capacity, source=source)
    accepted: list[bool] = []  # ARM accepted the PUT: from then on the deployment goes on in Azure
    with (out.status(f"deploying {model} as {deployment} ({sku}, capacity {capacity:,}) ..."),
          on_ctrl_c(lambda: deploy_interrupted(spec, accepted=bool(accepted)))):
        result = deploy_model(arm, spec, timeout=timeout, arm_url=arm_url, on_accepted=lambda: accepted.append(True))
    state = result.get("properties", {}).get("provisioning_state", "Succeeded")
    out.print(f"deployment [bold]{deployment}[/] of {model}: {state}")
    if not is_fine_tuned(model):
        out.print("note: a base model deployment is billed per token it serves; it has no hourly hosting fee.")
    elif sku != "DeveloperTier":
        out.print("[yellow]note[/]: a fine-tuned deployment is billed hourly whether or not it is used, and is "
                  "deleted after 15 days without calls (the model stays). Remove it with --delete.")
    out.print(f"next: aoai-ft chat --deployment {deployment}")

"""Removing what a demo made, newest first, whatever step it stopped at: deployments, eval, model and files,
then the account and its soft-deleted copy, and a check that nothing is left."""
from __future__ import annotations

from dataclasses import dataclass, field

import openai
from azure.mgmt.cognitiveservices import CognitiveServicesManagementClient
from openai.types.fine_tuning import FineTuningJob

from pipeline.demo.journal import DemoJournal


@dataclass(frozen=True)
class UploadedFiles:
    training: str
    validation: str


@dataclass
class Created:
    """What the demo has made so far; teardown removes exactly this."""

    account: str | None = None
    files: UploadedFiles | None = None
    job: FineTuningJob | None = None
    deployments: list[str] = field(default_factory=list)
    eval_id: str | None = None


def account_client(arm: CognitiveServicesManagementClient, group: str, account: str) -> openai.AzureOpenAI:
    """A data-plane client for the account, from its endpoint and key as ARM reports them."""
    from pipeline.clients import ConnectionSettings, openai_client

    endpoint = arm.accounts.get(group, account).properties.endpoint
    key = arm.accounts.list_keys(group, account).key1
    return openai_client(ConnectionSettings(endpoint=endpoint, api_key=key, timeout=15))


def tear_down(journal: DemoJournal, arm: CognitiveServicesManagementClient, group: str, location: str,
              created: Created) -> None:
    from pipeline.arm import find_deleted_account, purge_deleted_account
    from pipeline.deploy import delete_deployment

    account = created.account
    if account is None:
        journal.out.print("nothing was created")
        return
    for name in reversed(created.deployments):
        journal.cleanup(f"deleted deployment {name}",
                        lambda name=name: delete_deployment(arm, group, account, name, timeout=60, retry_delay=0.2))
    if created.eval_id is not None or created.files is not None:
        _remove_data(journal, account_client(arm, group, account), created)
    deleted = journal.cleanup(f"deleted account {account}", lambda: arm.accounts.begin_delete(group, account).result())
    # A deleted account shows up among the soft-deleted ones a moment later; one whose delete failed never does,
    # so that case looks once instead of waiting.
    wait_seconds = 10 if deleted else 0
    journal.cleanup(f"purged soft-deleted account {account}",
                    lambda: purge_deleted_account(arm, location=location, resource_group=group, account_name=account,
                                                  wait_seconds=wait_seconds, poll_seconds=0.2))
    left = [a.name for a in arm.accounts.list_by_resource_group(group) if a.name == account]
    if left or find_deleted_account(arm, location=location, resource_group=group, account_name=account) is not None:
        journal.failures.append(f"account {account} is still there")
    else:
        journal.out.print(f"[green]ok[/] nothing left: no account {account}, live or soft-deleted")


def _remove_data(journal: DemoJournal, client: openai.AzureOpenAI, created: Created) -> None:
    """The eval and its runs, the fine-tuned model with its files, or the files alone when no job started."""
    from pipeline.files import delete_file
    from pipeline.finetune import FineTuneResult, delete_fine_tuned_model

    if created.eval_id is not None:
        from pipeline.evals.client import evals_client_for

        eval_id = created.eval_id
        journal.cleanup(f"deleted eval {eval_id} and its runs", lambda: evals_client_for(client).evals.delete(eval_id))
    job, files = created.job, created.files
    if job is not None and files is not None:
        result = FineTuneResult(job_id=job.id, fine_tuned_model=job.fine_tuned_model, base_model=job.model,
                                training_file_id=files.training, validation_file_id=files.validation,
                                result_file_id=job.result_files[0] if job.result_files else None)
        journal.cleanup(f"deleted model {job.fine_tuned_model} and its files",
                        lambda: delete_fine_tuned_model(client, result))
    elif files is not None:
        for file_id in (files.training, files.validation):
            journal.cleanup(f"deleted file {file_id}", lambda file_id=file_id: delete_file(client, file_id))

"""The demo's steps, in order: validate -> create the account through the emulator's ARM plane -> upload -> train
(live progress) -> deploy the fine-tuned model and the base model -> ask both the lab's question -> evaluate both on
the validation set (the quality gate) -> loss curves -> tear down. The same library calls as against Azure; only
the endpoints point at loopback."""
from __future__ import annotations

import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Final

import openai
from azure.mgmt.cognitiveservices import CognitiveServicesManagementClient
from openai.types.fine_tuning import FineTuningJob
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from pipeline.demo.journal import DemoJournal
from pipeline.demo.teardown import Created, UploadedFiles, account_client, tear_down
from pipeline.errors import PipelineError

ACCOUNT_NAME: Final = "aoai-ft-demo"
FT_DEPLOYMENT: Final = "demo-fine-tuned"
BASE_DEPLOYMENT: Final = "demo-base"
ARM_TOKEN: Final = "demo-token"  # the emulator accepts any bearer token; nothing real is ever sent


def default_datasets() -> Path:
    """`./datasets` when run from the project root, else the copy next to the installed package."""
    here = Path("datasets")
    return here if (here / "training_set.jsonl").is_file() else Path(__file__).resolve().parents[2] / "datasets"


@dataclass(frozen=True)
class DemoOptions:
    out_dir: Path
    datasets_dir: Path
    training_seconds: float = 6.0
    data_dir: Path | None = None
    """Where the emulator keeps its state; None = a temporary folder, removed afterwards."""

    @property
    def training_file(self) -> Path:
        return self.datasets_dir / "training_set.jsonl"

    @property
    def validation_file(self) -> Path:
        return self.datasets_dir / "validation_set.jsonl"


def run_demo(options: DemoOptions, out: Console) -> DemoJournal:
    """Run every step, tear down whatever was made (even after a failed step), print the summary.

    Raises PipelineError when a dataset is invalid (before anything is made) or teardown left something behind."""
    journal = DemoJournal(out=out)
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="aoai-ft-demo-") as scratch:
        with journal.step("1. validate the datasets"):
            _validate(journal, options)
        _against_emulator(journal, options, options.data_dir or Path(scratch))
    journal.print_summary(time.monotonic() - started)
    return journal


def _validate(journal: DemoJournal, options: DemoOptions) -> None:
    from pipeline.dataset import render_report, require_valid, validate_files

    report = validate_files([options.training_file, options.validation_file])
    render_report(report, journal.out)
    require_valid(report)
    if report.estimate:
        journal.facts["estimated cost (real Azure)"] = f"${report.estimate.usd:,.2f}"


def _against_emulator(journal: DemoJournal, options: DemoOptions, data_dir: Path) -> None:
    from pipeline.arm import StaticTokenCredential, management_client
    from pipeline.emulator import EmulatorConfig, EmulatorServer

    # training is the wait worth watching; files, deployments and eval runs take a moment, not their real minutes
    config = EmulatorConfig(port=0, data_dir=data_dir, training_seconds=options.training_seconds,
                            file_processing_seconds=0.2, deployment_seconds=0.3, eval_run_seconds=0.8,
                            log_requests=False)
    with EmulatorServer(config) as emulator:
        journal.out.print(f"emulator (Azure OpenAI + ARM) listening on {emulator.url}, state in {data_dir}")
        arm = management_client(config.subscription_id, endpoint=emulator.url,
                                credential=StaticTokenCredential(ARM_TOKEN), polling_interval=0.2)
        group, created = config.default_resource_group, Created()
        try:
            _steps(journal, options, arm, config.subscription_id, group, config.location, created)
        finally:
            with journal.step("9. tear down"):
                tear_down(journal, arm, group, config.location, created)
    if journal.failures:
        raise PipelineError("the demo could not clean up everything: " + "; ".join(journal.failures),
                            hint="run it again; every step is idempotent")


def _steps(journal: DemoJournal, options: DemoOptions, arm: CognitiveServicesManagementClient, subscription: str,
           group: str, location: str, created: Created) -> None:
    with journal.step("2. create the Azure OpenAI account (ARM)"):
        created.account = _create_account(journal, arm, group, location)
        client = account_client(arm, group, created.account)
    with journal.step("3. upload the training and validation files"):
        created.files = _upload(journal, client, options)
    with journal.step("4. fine-tune"):
        created.job = job = _train(journal, client, created.files)
    with journal.step("5. deploy the fine-tuned and the base model (ARM)"):
        for name, model in ((FT_DEPLOYMENT, job.fine_tuned_model), (BASE_DEPLOYMENT, job.model)):
            _deploy(journal, arm, subscription, group, name, model)
            created.deployments.append(name)
    with journal.step("6. ask both: the lab's smoke test"):
        _compare(journal, client)
    with journal.step("7. evaluate both on the validation set: the quality gate"):
        _evaluate(journal, client, options, created)
    with journal.step("8. loss curves"):
        _plot(journal, client, job.id, options.out_dir)


def _create_account(journal: DemoJournal, arm: CognitiveServicesManagementClient, group: str, location: str) -> str:
    from azure.mgmt.cognitiveservices.models import Account, AccountProperties, Sku

    body = Account(kind="OpenAI", sku=Sku(name="S0"), location=location,
                   properties=AccountProperties(custom_sub_domain_name=ACCOUNT_NAME, public_network_access="Enabled"))
    account = arm.accounts.begin_create(group, ACCOUNT_NAME, body).result()
    journal.facts["account"] = account.id
    journal.facts["endpoint"] = account.properties.endpoint
    journal.out.print(f"account [bold]{account.name}[/] ({account.kind}, {account.sku.name}): "
                      f"{account.properties.endpoint}")
    return account.name


def _upload(journal: DemoJournal, client: openai.AzureOpenAI, options: DemoOptions) -> UploadedFiles:
    from pipeline.files import upload_file

    ids: dict[str, str] = {}
    for role, path in (("training", options.training_file), ("validation", options.validation_file)):
        result = upload_file(client, path, timeout=60, poll_interval=0.2)
        ids[role] = result.file.id
        journal.facts[f"{role} file"] = result.file.id
        journal.out.print(f"{path} -> {result.file.filename} ({result.file.id}, {result.file.status}"
                          f"{', reused' if result.reused else ''})")
    return UploadedFiles(**ids)


def _train(journal: DemoJournal, client: openai.AzureOpenAI, files: UploadedFiles) -> FineTuningJob:
    from pipeline.jobs import TrainingSpec, start_or_adopt, wait_for_job
    from pipeline.progress import JobProgressDisplay

    spec = TrainingSpec(training_file=files.training, validation_file=files.validation, suffix="demo", seed=42)
    job, adopted = start_or_adopt(client, spec)
    journal.out.print(f"{'adopted' if adopted else 'started'} job [bold]{job.id}[/] on {job.model}")
    with JobProgressDisplay(journal.out, title="training") as show:
        job = wait_for_job(client, job.id, timeout=300, poll_interval=0.5, max_poll_interval=1.0, on_update=show)
    journal.facts["job"] = job.id
    journal.facts["fine-tuned model"] = job.fine_tuned_model
    journal.out.print(f"[green]succeeded[/]: {job.fine_tuned_model} ({job.trained_tokens:,} trained tokens)")
    return job


def _deploy(journal: DemoJournal, arm: CognitiveServicesManagementClient, subscription: str, group: str,
            name: str, model: str) -> None:
    from pipeline.deploy import DeploymentSpec, deploy_model

    spec = DeploymentSpec(subscription_id=subscription, resource_group=group, account_name=ACCOUNT_NAME,
                          deployment_name=name, model=model, sku_name="Standard", capacity=1)
    deploy_model(arm, spec, timeout=60, retry_delay=0.2)
    journal.out.print(f"deployment [bold]{name}[/] of {model}: Succeeded")


def _compare(journal: DemoJournal, client: openai.AzureOpenAI) -> None:
    from pipeline.chat import SMOKE_TEST_QUESTION, ask

    answers = {name: ask(client, name) for name in (BASE_DEPLOYMENT, FT_DEPLOYMENT)}
    table = Table(title=SMOKE_TEST_QUESTION, show_lines=True, expand=True)
    table.add_column(f"base model ({BASE_DEPLOYMENT})", ratio=1)
    table.add_column(f"fine-tuned ({FT_DEPLOYMENT})", ratio=1)
    table.add_row(escape(answers[BASE_DEPLOYMENT]), escape(answers[FT_DEPLOYMENT]))
    journal.out.print(table)


def _evaluate(journal: DemoJournal, client: openai.AzureOpenAI, options: DemoOptions, created: Created) -> None:
    from pipeline.evals import DEFAULT_CRITERIA, EvalFigures, QualityBar, evaluate, load_eval_dataset, parse_criteria
    from pipeline.evals.client import evals_client_for
    from pipeline.evals.report import print_report, write_png

    report = evaluate(evals_client_for(client), load_eval_dataset(options.validation_file),
                      parse_criteria(DEFAULT_CRITERIA), [FT_DEPLOYMENT, BASE_DEPLOYMENT], name="aoai-ft demo",
                      poll_seconds=0.2, on_note=lambda message: journal.out.print(message))
    created.eval_id = report.eval_id
    print_report(report, journal.out)
    tuned, base = report.result(FT_DEPLOYMENT), report.result(BASE_DEPLOYMENT)
    figures = EvalFigures(pass_rate=tuned.pass_rate, base_pass_rate=base.pass_rate, run_id=tuned.run_id)
    bar = QualityBar()
    missed = bar.shortfalls(figures)
    verdict = "[green]clears[/]" if not missed else "[red]misses[/]"
    journal.out.print(f"quality gate ({bar.describe()}): the fine-tuned model {verdict} it - {figures.describe()}"
                      + ("" if not missed else f": {'; '.join(missed)}"))
    png = write_png(report, options.out_dir / "eval.png")
    journal.facts["evaluation"] = f"{figures.describe()} -> {png}"


def _plot(journal: DemoJournal, client: openai.AzureOpenAI, job_id: str, out_dir: Path) -> None:
    from pipeline.report import fetch_results, final_metrics, plot_losses

    rows = fetch_results(client, job_id)
    png = plot_losses(rows, out_dir / "loss.png", title=f"Fine-tuning loss ({job_id}, emulated)")
    final = final_metrics(rows)
    journal.facts["loss curves"] = str(png)
    journal.out.print(f"wrote {png} ({final.steps:,} steps, final train loss {final.train_loss:.4f}"
                      + (f", valid loss {final.valid_loss:.4f})" if final.valid_loss is not None else ")"))

"""`aoai-ft demo`: the whole lab, offline, in well under a minute - against an in-process emulator.

validate -> create the account through the emulator's ARM plane -> upload -> train (live progress) -> deploy the
fine-tuned model and the base model -> ask both the lab's question side by side -> evaluate both on the validation
set (Evals API, pass rates side by side, eval.png) and check the quality bar -> loss PNG -> tear everything
down (deployments, model, files, account delete + purge) -> summary. The same library calls as the real thing;
only the endpoints point at loopback.
"""
from __future__ import annotations

import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final, TypeVar

import click
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from pipeline.commands._options import console

T = TypeVar("T")
ACCOUNT_NAME: Final = "aoai-ft-demo"
FT_DEPLOYMENT: Final = "demo-fine-tuned"
BASE_DEPLOYMENT: Final = "demo-base"
ARM_TOKEN: Final = "demo-token"  # the emulator accepts any bearer token; nothing real is ever sent
DEFAULT_OUT: Final = Path("out") / "demo"


def default_datasets() -> Path:
    """`./datasets` when run from the project root, else the copy next to the installed package."""
    here = Path("datasets")
    return here if (here / "training_set.jsonl").is_file() else Path(__file__).resolve().parents[2] / "datasets"


@dataclass
class DemoRun:
    """What happened, for the summary: step timings, ids, paths, teardown results."""

    out: Console
    timings: list[tuple[str, float]] = field(default_factory=list)
    ids: dict[str, str] = field(default_factory=dict)
    teardown: list[str] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)

    @contextmanager
    def step(self, title: str) -> Iterator[None]:
        self.out.rule(f"[bold]{title}")
        start = time.monotonic()
        yield
        self.timings.append((title, time.monotonic() - start))

    def cleanup(self, what: str, action: Callable[[], T]) -> T | None:
        """Run one teardown action; a failure is recorded (and fails the demo) but the others still run."""
        try:
            result = action()
        except Exception as exc:  # noqa: BLE001 - keep tearing down, report at the end
            self.failures.append(f"{what}: {exc}")
            self.out.print(f"[red]x[/] {escape(what)}: {escape(str(exc))}")
            return None
        self.teardown.append(what)
        self.out.print(f"[green]ok[/] {what}")
        return result


@click.command("demo")
@click.option("--out", "out_dir", type=click.Path(file_okay=False, path_type=Path), default=DEFAULT_OUT,
              show_default=True, help="Where to write loss.png and eval.png.")
@click.option("--datasets", "datasets_dir", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="Folder with training_set.jsonl and validation_set.jsonl (default: the project's datasets/).")
@click.option("--training-seconds", type=click.FloatRange(0.5, 120), default=6.0, show_default=True,
              help="How long the emulated training job runs.")
@click.option("--data-dir", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="Keep the emulator's state in this folder (default: a temporary one, removed afterwards).")
def demo(out_dir: Path, datasets_dir: Path | None, training_seconds: float, data_dir: Path | None) -> None:
    """Run the whole fine-tuning flow offline against a local emulator, then remove everything it made.

    Validates the datasets (stats and cost estimate), creates an Azure OpenAI account through the emulator's
    Resource Manager plane, uploads, trains with live progress, deploys the fine-tuned model and the base model,
    asks both "What is artificial intelligence?", evaluates both on the validation set (pass rates and
    eval.png), writes the loss curves PNG, tears everything down and prints a summary. No Azure account, key or network needed.

    \b
    Examples:
      aoai-ft demo
      aoai-ft demo --out /tmp/demo --training-seconds 3
    """
    datasets_dir = datasets_dir or default_datasets()
    run = DemoRun(out=console())
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="aoai-ft-demo-") as scratch:
        _run(run, datasets_dir, out_dir, training_seconds, data_dir or Path(scratch))
    _summary(run, time.monotonic() - started, out_dir)


def _run(run: DemoRun, datasets_dir: Path, out_dir: Path, training_seconds: float, data_dir: Path) -> None:
    from pipeline.emulator import EmulatorConfig, EmulatorServer

    training, validation = datasets_dir / "training_set.jsonl", datasets_dir / "validation_set.jsonl"
    with run.step("1. validate the datasets"):
        _validate(run, training, validation)
    config = EmulatorConfig(port=0, data_dir=data_dir, training_seconds=training_seconds,
                            file_processing_seconds=0.2, deployment_seconds=0.3, log_requests=False)
    with EmulatorServer(config) as emulator:
        run.out.print(f"emulator (Azure OpenAI + ARM) listening on {emulator.url}, state in {data_dir}")
        _flow(run, emulator, training, validation, out_dir)


def _validate(run: DemoRun, training: Path, validation: Path) -> None:
    from pipeline.dataset import render_report, require_valid, validate_files

    report = validate_files([training, validation])
    render_report(report, run.out)
    require_valid(report)
    if report.estimate:
        run.ids["estimated cost (real Azure)"] = f"${report.estimate.usd:,.2f}"


def _flow(run: DemoRun, emulator: Any, training: Path, validation: Path, out_dir: Path) -> None:
    from pipeline.arm import StaticTokenCredential, management_client

    cfg = emulator.config
    arm = management_client(cfg.subscription_id, endpoint=emulator.url, credential=StaticTokenCredential(ARM_TOKEN),
                            polling_interval=0.2)
    group = cfg.default_resource_group
    created: dict[str, Any] = {}
    try:
        with run.step("2. create the Azure OpenAI account (ARM)"):
            client = _create_account(run, arm, group, cfg.location)
            created["account"] = True
        with run.step("3. upload the training and validation files"):
            files = _upload(run, client, training, validation)
            created["files"] = files
        with run.step("4. fine-tune"):
            job = _train(run, client, files)
            created["job"] = job
        with run.step("5. deploy the fine-tuned and the base model (ARM)"):
            _deploy(run, arm, cfg.subscription_id, group, job.fine_tuned_model, job.model, created)
        with run.step("6. ask both: the lab's smoke test"):
            _compare(run, client)
        with run.step("7. evaluate both on the validation set: the quality gate"):
            _evaluate(run, client, validation, out_dir, created)
        with run.step("8. loss curves"):
            _plot(run, client, job.id, out_dir)
    finally:
        with run.step("9. tear down"):
            _teardown(run, arm, group, cfg.location, created)
    if run.failures:
        from pipeline.errors import PipelineError

        raise PipelineError("the demo could not clean up everything: " + "; ".join(run.failures),
                            hint="run it again; every step is idempotent")


def _create_account(run: DemoRun, arm: Any, group: str, location: str) -> Any:
    from azure.mgmt.cognitiveservices.models import Account, AccountProperties, Sku

    from pipeline.clients import ConnectionSettings, openai_client

    body = Account(kind="OpenAI", sku=Sku(name="S0"), location=location,
                   properties=AccountProperties(custom_sub_domain_name=ACCOUNT_NAME, public_network_access="Enabled"))
    account = arm.accounts.begin_create(group, ACCOUNT_NAME, body).result()
    key = arm.accounts.list_keys(group, ACCOUNT_NAME).key1
    endpoint = account.properties.endpoint
    run.ids["account"] = account.id
    run.ids["endpoint"] = endpoint
    run.out.print(f"account [bold]{account.name}[/] ({account.kind}, {account.sku.name}): {endpoint}")
    return openai_client(ConnectionSettings(endpoint=endpoint, api_key=key, timeout=15))


def _upload(run: DemoRun, client: Any, training: Path, validation: Path) -> dict[str, str]:
    from pipeline.files import upload_file

    ids: dict[str, str] = {}
    for role, path in (("training", training), ("validation", validation)):
        result = upload_file(client, path, timeout=60, poll_interval=0.2)
        ids[role] = result.file.id
        run.ids[f"{role} file"] = result.file.id
        run.out.print(f"{path} -> {result.file.filename} ({result.file.id}, {result.file.status}"
                      f"{', reused' if result.reused else ''})")
    return ids


def _train(run: DemoRun, client: Any, files: dict[str, str]) -> Any:
    from pipeline.jobs import TrainingSpec, start_or_adopt, wait_for_job
    from pipeline.progress import JobProgressDisplay

    spec = TrainingSpec(training_file=files["training"], validation_file=files["validation"], suffix="demo", seed=42)
    job, adopted = start_or_adopt(client, spec)
    run.out.print(f"{'adopted' if adopted else 'started'} job [bold]{job.id}[/] on {job.model}")
    with JobProgressDisplay(run.out, title="training") as show:
        job = wait_for_job(client, job.id, timeout=300, poll_interval=0.5, max_poll_interval=1.0, on_update=show)
    run.ids["job"] = job.id
    run.ids["fine-tuned model"] = job.fine_tuned_model
    run.out.print(f"[green]succeeded[/]: {job.fine_tuned_model} ({job.trained_tokens:,} trained tokens)")
    return job


def _deploy(run: DemoRun, arm: Any, subscription: str, group: str, model: str, base_model: str,
            created: dict[str, Any]) -> None:
    from pipeline.deploy import DeploymentSpec, deploy_model

    created["deployments"] = []
    for name, what in ((FT_DEPLOYMENT, model), (BASE_DEPLOYMENT, base_model)):
        spec = DeploymentSpec(subscription_id=subscription, resource_group=group, account_name=ACCOUNT_NAME,
                              deployment_name=name, model=what, sku_name="Standard", capacity=1)
        deploy_model(arm, spec, timeout=60, retry_delay=0.2)
        created["deployments"].append(name)
        run.out.print(f"deployment [bold]{name}[/] of {what}: Succeeded")


def _compare(run: DemoRun, client: Any) -> None:
    from pipeline.chat import SMOKE_TEST_QUESTION, ask

    answers = {name: ask(client, name) for name in (BASE_DEPLOYMENT, FT_DEPLOYMENT)}
    table = Table(title=SMOKE_TEST_QUESTION, show_lines=True, expand=True)
    table.add_column(f"base model ({BASE_DEPLOYMENT})", ratio=1)
    table.add_column(f"fine-tuned ({FT_DEPLOYMENT})", ratio=1)
    table.add_row(escape(answers[BASE_DEPLOYMENT]), escape(answers[FT_DEPLOYMENT]))
    run.out.print(table)


def _evaluate(run: DemoRun, client: Any, validation: Path, out_dir: Path, created: dict[str, Any]) -> None:
    from pipeline.evals import DEFAULT_CRITERIA, EvalFigures, QualityBar, evaluate, load_eval_dataset, parse_criteria
    from pipeline.evals.client import evals_client_for
    from pipeline.evals.report import print_report, write_png

    evals = evals_client_for(client)
    report = evaluate(evals, load_eval_dataset(validation), parse_criteria(DEFAULT_CRITERIA),
                      [FT_DEPLOYMENT, BASE_DEPLOYMENT], name="aoai-ft demo", poll_seconds=0.2,
                      on_note=lambda message: run.out.print(message))
    created["eval"] = report.eval_id
    print_report(report, run.out)
    tuned, base = report.result(FT_DEPLOYMENT), report.result(BASE_DEPLOYMENT)
    figures = EvalFigures(pass_rate=tuned.pass_rate, base_pass_rate=base.pass_rate, run_id=tuned.run_id)
    bar = QualityBar()
    missed = bar.shortfalls(figures)
    verdict = "[green]clears[/]" if not missed else "[red]misses[/]"
    run.out.print(f"quality gate ({bar.describe()}): the fine-tuned model {verdict} it - {figures.describe()}"
                  + ("" if not missed else f": {'; '.join(missed)}"))
    png = write_png(report, out_dir / "eval.png")
    run.ids["evaluation"] = f"{figures.describe()} -> {png}"


def _plot(run: DemoRun, client: Any, job_id: str, out_dir: Path) -> None:
    from pipeline.report import fetch_results, final_metrics, plot_losses

    rows = fetch_results(client, job_id)
    png = plot_losses(rows, out_dir / "loss.png", title=f"Fine-tuning loss ({job_id}, emulated)")
    final = final_metrics(rows)
    run.ids["loss curves"] = str(png)
    run.out.print(f"wrote {png} ({final.steps:,} steps, final train loss {final.train_loss:.4f}"
                  + (f", valid loss {final.valid_loss:.4f})" if final.valid_loss is not None else ")"))


def _teardown(run: DemoRun, arm: Any, group: str, location: str, created: dict[str, Any]) -> None:
    from pipeline.arm import find_deleted_account, purge_deleted_account
    from pipeline.deploy import delete_deployment
    from pipeline.finetune import FineTuneResult, delete_fine_tuned_model

    if not created.get("account"):
        run.out.print("nothing was created")
        return
    for name in reversed(created.get("deployments", [])):
        run.cleanup(f"deleted deployment {name}",
                    lambda name=name: delete_deployment(arm, group, ACCOUNT_NAME, name, timeout=60, retry_delay=0.2))
    job, files = created.get("job"), created.get("files") or {}
    client = _demo_client(arm, group)
    if created.get("eval"):
        from pipeline.evals.client import evals_client_for

        run.cleanup(f"deleted eval {created['eval']} and its runs",
                    lambda: evals_client_for(client).evals.delete(created["eval"]))
    if job is not None:
        result = FineTuneResult(job_id=job.id, fine_tuned_model=job.fine_tuned_model, base_model=job.model,
                                training_file_id=files["training"], validation_file_id=files.get("validation"),
                                result_file_id=job.result_files[0] if job.result_files else None)
        run.cleanup(f"deleted model {job.fine_tuned_model} and its files",
                    lambda: delete_fine_tuned_model(client, result))
    elif files:
        from pipeline.files import delete_file

        for file_id in files.values():
            run.cleanup(f"deleted file {file_id}", lambda file_id=file_id: delete_file(client, file_id))
    run.cleanup(f"deleted account {ACCOUNT_NAME}", lambda: arm.accounts.begin_delete(group, ACCOUNT_NAME).result())
    run.cleanup(f"purged soft-deleted account {ACCOUNT_NAME}",
                lambda: purge_deleted_account(arm, location=location, resource_group=group, account_name=ACCOUNT_NAME,
                                              wait_seconds=10, poll_seconds=0.2))
    left = [a.name for a in arm.accounts.list_by_resource_group(group) if a.name == ACCOUNT_NAME]
    deleted = find_deleted_account(arm, location=location, resource_group=group, account_name=ACCOUNT_NAME)
    if left or deleted is not None:
        run.failures.append(f"account {ACCOUNT_NAME} is still there")
    else:
        run.out.print(f"[green]ok[/] nothing left: no account {ACCOUNT_NAME}, live or soft-deleted")


def _demo_client(arm: Any, group: str) -> Any:
    from pipeline.clients import ConnectionSettings, openai_client

    account = arm.accounts.get(group, ACCOUNT_NAME)
    key = arm.accounts.list_keys(group, ACCOUNT_NAME).key1
    return openai_client(ConnectionSettings(endpoint=account.properties.endpoint, api_key=key, timeout=15))


def _summary(run: DemoRun, total: float, out_dir: Path) -> None:
    from pipeline.progress import format_duration

    out = run.out
    out.rule("[bold]summary")
    table = Table("step", "time", show_header=True)
    for title, seconds in run.timings:
        table.add_row(title, f"{seconds:.1f} s")
    table.add_row("[bold]total", f"[bold]{total:.1f} s")
    out.print(table)
    for key, value in run.ids.items():
        out.print(f"{key}: {value}")
    out.print(f"torn down: {len(run.teardown):,} item(s); emulator left with nothing from the demo")
    out.print(f"[bold green]demo finished[/] in {format_duration(total)}. Next, on Azure: `pulumi up` "
              f"(see README), or step by step: aoai-ft validate / upload / train / deploy / chat / report.")

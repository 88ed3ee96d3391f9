"""`Evaluation`: the fine-tuned deployment and the base model's deployment evaluated on the held-out set, in
the service's own Evals API (so the runs show in the Foundry portal), as one Pulumi resource.

create/update = `pipeline.evals.evaluate` on both deployments (an eval and runs for the same content, criteria,
deployments and model already in the service are adopted, not paid again), its progress in the log;
diff      = an update (evaluate again) when what is measured changes: the account, a deployment, the model, the
            held-out file's content or the criteria. Paths, timeouts and polling only steer the next evaluation
            and never show up as a change, so previews stay clean;
delete    = nothing: the eval and its runs stay in the account as the record of what was measured (they go
            with the account).

Outputs: `pass_rate`, `base_pass_rate`, `run_id` (the fine-tuned model's run), `base_run_id`, `eval_id`,
`report_url`. Whether those clear the bar is the program's call (`infra.training`), not this resource's, so
raising or lowering the bar never re-runs an evaluation. Like `SmokeTest`, it names its account by ARM id only
and reads endpoint and key through ARM per call.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, Final

import pulumi
from pulumi.dynamic import CreateResult, DiffResult, Resource, ResourceProvider, UpdateResult

from infra.provider_process import arm_stop_signal, sleep_unless_stopping

DEFAULT_TIMEOUT_SECONDS: Final = 3600.0
POLL_SECONDS: Final = 10.0
MEASURED_KEYS: Final = ("account_id", "deployment_name", "base_deployment_name", "model", "dataset_sha256", "criteria")
"""A change to any of these means a different measurement: evaluate again."""
RESULT_KEYS: Final = ("eval_id", "run_id", "base_run_id", "pass_rate", "base_pass_rate", "passed", "total",
                      "base_passed", "report_url")


def evaluate(props: dict[str, Any]) -> dict[str, Any]:
    """`pipeline.evals.evaluate` on the resource's account; returns the result outputs."""
    from pathlib import Path

    from pipeline.clients import openai_client
    from pipeline.connection import account_connection
    from pipeline.errors import UsageError
    from pipeline.evals import evaluate as run_evaluation, load_eval_dataset
    from pipeline.evals.client import evals_client_for

    arm_stop_signal()
    dataset = load_eval_dataset(Path(props["dataset_path"]))
    if dataset.sha256 != props["dataset_sha256"]:
        raise UsageError(f"{props['dataset_path']} changed while `pulumi up` was running",
                         hint="run `pulumi up` again so the program and the evaluation see the same file")
    client = evals_client_for(openai_client(account_connection(props["account_id"])))
    deployment, base = props["deployment_name"], props["base_deployment_name"]

    def progress(name: str, run: Any) -> None:
        done = run.result_counts.total if run.result_counts else 0
        pulumi.log.info(f"evaluation of {name}: run {run.id} {run.status}, {done}/{len(dataset.items)} items graded")

    report = run_evaluation(
        client, dataset, json.loads(props["criteria"]), [deployment, base], name=props.get("eval_name") or "aoai-ft held-out",
        models={deployment: props.get("model") or "", base: props.get("base_model") or ""},
        timeout=float(props.get("timeout_seconds") or DEFAULT_TIMEOUT_SECONDS),
        poll_seconds=float(props.get("poll_seconds") or POLL_SECONDS),
        on_progress=progress, on_note=lambda message: pulumi.log.info(f"evaluation: {message}"),
        sleep=sleep_unless_stopping)
    tuned, reference = report.result(deployment), report.result(base)
    pulumi.log.info(f"evaluation on {len(dataset.items)} held-out items: {deployment} passes {tuned.pass_rate:.0%} "
                    f"({tuned.passed}/{tuned.total}), base model {base} {reference.pass_rate:.0%} "
                    f"({reference.passed}/{reference.total}); eval {report.eval_id}")
    return {"eval_id": report.eval_id, "run_id": tuned.run_id, "base_run_id": reference.run_id,
            "pass_rate": round(tuned.pass_rate, 4), "base_pass_rate": round(reference.pass_rate, 4),
            "passed": tuned.passed, "total": tuned.total, "base_passed": reference.passed,
            "report_url": tuned.report_url}


class EvaluationProvider(ResourceProvider):
    """Evaluates on create and on update; delete keeps the service's record."""

    serialize_as_secret_always = False

    def create(self, props: dict[str, Any]) -> CreateResult:
        return CreateResult(id_=f"evaluation/{props['deployment_name']}", outs={**props, **evaluate(props)})

    def diff(self, _id: str, olds: dict[str, Any], news: dict[str, Any]) -> DiffResult:
        changed = any(olds.get(key) != news.get(key) for key in MEASURED_KEYS)
        return DiffResult(changes=changed, replaces=[], delete_before_replace=False)

    def update(self, _id: str, olds: dict[str, Any], news: dict[str, Any]) -> UpdateResult:
        return UpdateResult(outs={**news, **evaluate(news)})


@dataclass
class EvaluationArgs:
    """Which deployments of which account (ARM id) to evaluate on what, by which criteria (API shape)."""

    account_id: pulumi.Input[str]
    deployment_name: pulumi.Input[str]
    base_deployment_name: pulumi.Input[str]
    dataset_path: str
    dataset_sha256: str
    criteria: list[dict[str, Any]]
    model: pulumi.Input[str] | None = None
    base_model: str | None = None
    eval_name: str = "aoai-ft held-out"
    timeout_seconds: float = DEFAULT_TIMEOUT_SECONDS
    poll_seconds: float = POLL_SECONDS


class Evaluation(Resource, module="aoai-finetune", name="Evaluation"):
    """Pass rates of the fine-tuned and the base deployment on the held-out set (see the module docstring)."""

    eval_id: pulumi.Output[str]
    run_id: pulumi.Output[str]
    base_run_id: pulumi.Output[str]
    pass_rate: pulumi.Output[float]
    base_pass_rate: pulumi.Output[float]
    report_url: pulumi.Output[str | None]

    def __init__(self, resource_name: str, args: EvaluationArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        props: dict[str, Any] = {
            "account_id": args.account_id,
            "deployment_name": args.deployment_name,
            "base_deployment_name": args.base_deployment_name,
            "model": args.model,
            "base_model": args.base_model,
            "dataset_path": args.dataset_path,
            "dataset_sha256": args.dataset_sha256,
            "criteria": json.dumps(args.criteria, sort_keys=True),  # one string: Pulumi keeps it exactly
            "eval_name": args.eval_name,
            "timeout_seconds": args.timeout_seconds,
            "poll_seconds": args.poll_seconds,
            **{key: None for key in RESULT_KEYS},
        }
        super().__init__(EvaluationProvider(), resource_name, props, opts)

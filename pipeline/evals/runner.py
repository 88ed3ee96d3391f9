"""Evaluate deployments on a held-out set through the service's Evals API, adopting what already exists.

One eval per (held-out content, criteria), found again by a fingerprint in its metadata; one run per deployment
(and model, when known), found again by its metadata too. So running the same evaluation twice pays once, and the
runs are the service's own: they show up in the Foundry portal next to any made there.
"""
from __future__ import annotations

import hashlib
import json
import re
import time
from collections.abc import Callable, Sequence
from typing import Any, Final

import openai
from pydantic import BaseModel, ConfigDict

from pipeline.clients import describe_api_error, service_errors
from pipeline.errors import ServiceError
from pipeline.evals.dataset import EvalDataset

FINGERPRINT_KEY: Final = "aoai_ft_fingerprint"
DEPLOYMENT_KEY: Final = "aoai_ft_deployment"
MODEL_KEY: Final = "aoai_ft_model"
_UUID_SUFFIX: Final = re.compile(r"-[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")
ACTIVE: Final = frozenset({"queued", "in_progress"})
WAYS_OUT: Final = frozenset({"failed", "canceled"})


class ItemResult(BaseModel):
    """One held-out item as a deployment answered and the graders judged it."""

    model_config = ConfigDict(frozen=True)

    index: int
    question: str
    reference: str
    answer: str
    status: str  # pass | fail | error
    scores: dict[str, float]


class DeploymentResult(BaseModel):
    """A deployment's run: counts, pass rate, per-criterion pass rates, and every item."""

    model_config = ConfigDict(frozen=True)

    deployment: str
    model: str | None = None
    run_id: str
    status: str
    adopted: bool
    total: int
    passed: int
    failed: int
    errored: int
    per_criterion: dict[str, float]
    report_url: str | None = None
    items: tuple[ItemResult, ...] = ()

    @property
    def pass_rate(self) -> float:
        return self.passed / self.total if self.total else 0.0

    @property
    def mean_scores(self) -> list[float]:
        """Each item's mean grader score (what the score distribution shows)."""
        return [sum(i.scores.values()) / len(i.scores) for i in self.items if i.scores]


class EvalReport(BaseModel):
    model_config = ConfigDict(frozen=True)

    eval_id: str
    eval_name: str
    dataset: str
    criteria: tuple[str, ...]
    results: tuple[DeploymentResult, ...]

    def result(self, deployment: str) -> DeploymentResult:
        return next(r for r in self.results if r.deployment == deployment)


def fingerprint(dataset: EvalDataset, criteria: list[dict[str, Any]]) -> str:
    text = json.dumps({"items": dataset.source_items(), "input": dataset.input_messages(), "criteria": criteria},
                      sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()[:32]


def ensure_eval(client: openai.OpenAI, dataset: EvalDataset, criteria: list[dict[str, Any]], *, name: str) -> tuple[Any, bool]:
    """The eval for this dataset and these criteria: an existing one (adopted=True) or a new one."""
    mark = fingerprint(dataset, criteria)
    with service_errors("listing evals"):
        for existing in client.evals.list(limit=100):
            if (existing.metadata or {}).get(FINGERPRINT_KEY) == mark:
                return existing, True
    with service_errors(f"creating eval {name!r}"):
        created = client.evals.create(
            name=name, metadata={FINGERPRINT_KEY: mark, "dataset": dataset.path[-512:]},
            data_source_config={"type": "custom", "item_schema": dataset.item_schema(), "include_sample_schema": True},
            testing_criteria=criteria,  # type: ignore[arg-type]
        )
    return created, False


def ensure_run(client: openai.OpenAI, eval_id: str, dataset: EvalDataset, deployment: str, *,
               model: str | None = None, fresh: bool = False) -> tuple[Any, bool]:
    """This deployment's run of the eval: the latest that did not fail or get canceled (unless `fresh`), else new."""
    if not fresh:
        with service_errors(f"listing runs of eval {eval_id}"):
            runs = list(client.evals.runs.list(eval_id, limit=100))
        for run in reversed(runs):
            meta = run.metadata or {}
            if (meta.get(DEPLOYMENT_KEY) == deployment and meta.get(MODEL_KEY, "") == (model or "")
                    and run.status not in WAYS_OUT):
                return run, True
    metadata = {DEPLOYMENT_KEY: deployment, MODEL_KEY: model or ""}
    with service_errors(f"starting an eval run on deployment {deployment!r}"):
        run = client.evals.runs.create(
            eval_id, name=f"{deployment}" + (f" ({model})" if model else ""), metadata=metadata,
            data_source={"type": "completions", "model": deployment, "input_messages": dataset.input_messages(),  # type: ignore[typeddict-item]
                         "source": {"type": "file_content", "content": dataset.source_items()}},
        )
    return run, False


Progress = Callable[[str, Any], None]


def wait_for_run(client: openai.OpenAI, eval_id: str, run: Any, deployment: str, *, timeout: float,
                 poll_seconds: float, on_progress: Progress | None = None,
                 sleep: Callable[[float], None] = time.sleep) -> Any:
    """Poll until the run ends; `on_progress(deployment, run)` on every change. Failure and timeout raise."""
    started, slept, last = time.monotonic(), 0.0, None
    while True:
        seen = (run.status, run.result_counts.total if run.result_counts else 0)
        if seen != last and on_progress is not None:
            on_progress(deployment, run)
        last = seen
        if run.status not in ACTIVE:
            break
        if max(time.monotonic() - started, slept) + poll_seconds > timeout:
            raise ServiceError(f"eval run {run.id} on deployment {deployment!r} is still {run.status} after "
                               f"{timeout:.0f}s", hint="it keeps running in the service; run the same command again "
                                                       "to pick it up instead of starting another")
        sleep(poll_seconds)
        slept += poll_seconds
        with service_errors(f"reading eval run {run.id}"):
            run = client.evals.runs.retrieve(run.id, eval_id=eval_id)
    if run.status in WAYS_OUT:
        error = getattr(run, "error", None)
        detail = f"{error.code}: {error.message}" if error is not None and getattr(error, "message", None) else run.status
        raise ServiceError(f"eval run {run.id} on deployment {deployment!r} {run.status}: {detail}",
                           hint="check that the deployment exists and serves (`aoai-ft chat --deployment "
                                f"{deployment}`); run again to start a new run")
    return run


def collect(client: openai.OpenAI, eval_id: str, run: Any, dataset: EvalDataset, deployment: str, *,
            model: str | None, adopted: bool) -> DeploymentResult:
    """The finished run's counts and every output item, in dataset order."""
    with service_errors(f"reading the output items of eval run {run.id}"):
        outputs = list(client.evals.runs.output_items.list(run.id, eval_id=eval_id, limit=100))
    items = []
    for output in sorted(outputs, key=lambda o: o.datasource_item_id):
        source = dataset.items[output.datasource_item_id] if output.datasource_item_id < len(dataset.items) else None
        answer = " ".join((o.content or "") for o in (output.sample.output or [])) if output.sample else ""
        items.append(ItemResult(
            index=output.datasource_item_id,
            question=source.question if source else str(output.datasource_item.get("question", "")),
            reference=source.reference if source else str(output.datasource_item.get("reference", "")),
            answer=answer, status=output.status,
            scores={_criterion_name(r.name): float(r.score) for r in output.results}))
    counts = run.result_counts
    per = {_criterion_name(r.testing_criteria): (r.passed / (r.passed + r.failed) if r.passed + r.failed else 0.0)
           for r in run.per_testing_criteria_results or []}
    return DeploymentResult(deployment=deployment, model=model, run_id=run.id, status=run.status, adopted=adopted,
                            total=counts.total, passed=counts.passed, failed=counts.failed, errored=counts.errored,
                            per_criterion=per, report_url=getattr(run, "report_url", None) or None,
                            items=tuple(items))


def _criterion_name(name: str) -> str:
    """Azure may return a grader's name with `-<uuid>` appended."""
    return _UUID_SUFFIX.sub("", name)


def evaluate(client: openai.OpenAI, dataset: EvalDataset, criteria: list[dict[str, Any]],
             deployments: Sequence[str], *, name: str = "aoai-ft held-out", models: dict[str, str] | None = None,
             fresh: bool = False, timeout: float = 1800, poll_seconds: float = 5,
             on_progress: Progress | None = None, on_note: Callable[[str], None] = lambda message: None,
             on_run: Callable[[str, Any], None] = lambda deployment, run: None,
             sleep: Callable[[float], None] = time.sleep) -> EvalReport:
    """Run (or adopt) the eval on every deployment, all runs started first so they proceed side by side;
    `on_run(deployment, run)` as each run is started or adopted (from then on it runs in the service)."""
    if not deployments:
        raise ServiceError("no deployment to evaluate", hint="name at least one deployment")
    models = models or {}
    evaluation, adopted_eval = ensure_eval(client, dataset, criteria, name=name)
    on_note(f"{'adopted' if adopted_eval else 'created'} eval {evaluation.id} ({len(dataset.items):,} items)")
    started = []
    for deployment in deployments:
        run, adopted = ensure_run(client, evaluation.id, dataset, deployment, model=models.get(deployment), fresh=fresh)
        on_note(f"{'adopted' if adopted else 'started'} run {run.id} on {deployment}")
        on_run(deployment, run)
        started.append((deployment, run, adopted))
    deadline = time.monotonic() + timeout
    results = []
    for deployment, run, adopted in started:
        finished = wait_for_run(client, evaluation.id, run, deployment, timeout=max(deadline - time.monotonic(), 1.0),
                                poll_seconds=poll_seconds, on_progress=on_progress, sleep=sleep)
        results.append(collect(client, evaluation.id, finished, dataset, deployment, model=models.get(deployment),
                               adopted=adopted))
    return EvalReport(eval_id=evaluation.id, eval_name=evaluation.name, dataset=dataset.path,
                      criteria=tuple(c["name"] for c in criteria), results=tuple(results))


def eval_interrupted(runs: dict[str, str], *, fresh: bool) -> tuple[str, str]:
    """(message, hint) for Ctrl-C during `evaluate`: `runs` maps each deployment to the run started or adopted
    on it so far; they go on in the service, and running the same evaluation again adopts them."""
    if runs:
        listed = ", ".join(f"{run_id} on {deployment}" for deployment, run_id in runs.items())
        message = f"eval runs go on in the service until they finish: {listed}"
    else:
        message = "no eval run had started yet; one being started at that moment goes on in the service"
    again = "run the same `aoai-ft eval` command again" + (" without --fresh" if fresh else "")
    return message, f"{again}: it adopts the runs of this eval and shows their results instead of starting new ones"


__all__ = ["DeploymentResult", "EvalReport", "ItemResult", "collect", "describe_api_error", "ensure_eval",
           "ensure_run", "eval_interrupted", "evaluate", "fingerprint", "wait_for_run"]

"""`FineTunedModel`: the lab's Tasks 7 (upload, train, wait) as one Pulumi resource, a thin dynamic provider.

create  = `pipeline.finetune.ensure_fine_tuned_model` (upload with content dedup, start or adopt the job, wait);
diff    = replace (= train again, or adopt a job already there) when the account, a dataset's content or a
          training setting changes, and nothing else: paths, timeouts and the api-version only steer the next
          call, so they never show up as a change (an unchanged stack checked out elsewhere previews clean);
read    = a GET of the job and of its checkpoints (cheap refresh);
delete  = `pipeline.finetune.delete_fine_tuned_model` (the model, where the service allows it, and the files).

Outputs: the job's results (`fine_tuned_model`, `job_id`, file ids, trained tokens) and `checkpoints`, the
models the job kept (`pipeline.jobs.list_checkpoints`: step, deployable model name, losses; the final model last),
so the program can deploy any of them (deployCheckpoint) without this resource changing: which checkpoint is
deployed is not an input here, and choosing another one never trains again.

The resource knows its account by ARM id only. Endpoint and key are read through Azure Resource Manager when a
call is made (`pipeline.connection`), so no key sits in this resource's state and a rotated key changes nothing.

The provider runs in Pulumi's provider process (`pulumi-resource-pulumi-python`, started with the program's
directory as cwd), which gets it by unpickling (dill) the provider instance stored in state. So it holds no
attributes, keeps no module-level state, and imports `pipeline` inside each method. Pulumi waits for this step
on the first Ctrl-C and stops the process on the second; the job keeps running in Azure either way, the provider
says so, and the next `pulumi up` adopts the job instead of training again.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Final

import pulumi
from pulumi.dynamic import CreateResult, DiffResult, ReadResult, Resource, ResourceProvider, UpdateResult

from infra.provider_process import ProviderStopping, arm_stop_signal, sleep_unless_stopping
from pipeline.training_settings import TrainingSettings

TRAINING_KEYS: Final = (
    "training_sha256", "validation_sha256", "base_model", "hyperparameters", "suffix", "seed", "method", "beta",
)
"""Inputs whose change means a different model (the method and DPO's beta included)."""
DEFAULTS: Final = {"method": "supervised"}
"""What an input absent from older state means: a model trained before `method` existed was supervised."""
REPLACE_KEYS: Final = ("account_id", *TRAINING_KEYS)
"""The provider replaces on these, and only these: a model belongs to the account that trained it."""
RESULT_KEYS: Final = (
    "fine_tuned_model", "job_id", "training_file_id", "validation_file_id", "trained_tokens", "result_file_id",
)
CHECKPOINTS_KEY: Final = "checkpoints"
"""The output listing the job's deployable models (kept checkpoints + the final model), as plain dicts."""


def _client(props: dict[str, Any]) -> Any:
    """The data-plane client of the resource's account: key auth when the account has keys, else Entra ID."""
    from pipeline.clients import openai_client
    from pipeline.connection import account_connection

    return openai_client(account_connection(props["account_id"], api_version=props.get("api_version") or None))


def _request(props: dict[str, Any]) -> Any:
    from pathlib import Path

    from pipeline.finetune import FineTuneRequest

    hyper = props.get("hyperparameters") or {}
    return FineTuneRequest(
        training_path=Path(props["training_path"]),
        validation_path=Path(props["validation_path"]) if props.get("validation_path") else None,
        model=props["base_model"],
        n_epochs=_int_or_none(hyper.get("n_epochs")),
        batch_size=_int_or_none(hyper.get("batch_size")),
        learning_rate_multiplier=hyper.get("learning_rate_multiplier"),
        suffix=props.get("suffix") or None,
        seed=_int_or_none(props.get("seed")),
        method=props.get("method") or "supervised",
        beta=props.get("beta"),
    )


def _int_or_none(value: Any) -> int | None:
    """Numbers come back from Pulumi's property bags as floats."""
    return None if value is None else int(value)


def _check_content(props: dict[str, Any]) -> None:
    """The files must still hold the content the program hashed (it may have changed between preview and up)."""
    from pathlib import Path

    from pipeline.errors import UsageError
    from pipeline.files import content_hash

    for path_key, hash_key in (("training_path", "training_sha256"), ("validation_path", "validation_sha256")):
        path = props.get(path_key)
        if path and props.get(hash_key) and content_hash(Path(path)) != props[hash_key]:
            raise UsageError(f"{path} changed while `pulumi up` was running",
                             hint="run `pulumi up` again so the dataset check and the hash see the same file")


class FineTunedModelProvider(ResourceProvider):
    """CRUD of one fine-tuned model; every method is a call or two into `pipeline`."""

    serialize_as_secret_always = False  # captures nothing secret: no key ever reaches this resource

    def create(self, props: dict[str, Any]) -> CreateResult:
        from pipeline.finetune import ensure_fine_tuned_model
        from pipeline.progress import describe

        _check_content(props)
        arm_stop_signal()  # before anything slow, so an interrupt during the upload is noticed too
        account = props["account_id"].rsplit("/", 1)[-1]
        timeout_minutes = float(props["timeout_minutes"])
        last: list[tuple[object, ...]] = []
        job_ids: list[str] = []

        def on_job(job: Any, adopted: bool) -> None:
            job_ids.append(job.id)
            if adopted:
                pulumi.log.info(f"fine-tuning job {job.id} for the same files and settings is already {job.status} "
                                f"on {account}: adopting it (no second training run)")
            else:
                pulumi.log.info(f"fine-tuning job {job.id} started on {account}; waiting up to "
                                f"{timeout_minutes:g} min for it")
            pulumi.log.info(f"if `pulumi up` is interrupted (Pulumi waits for this step on the first Ctrl-C and "
                            f"stops waiting on the second), job {job.id} keeps running in Azure and the next "
                            "`pulumi up` adopts it instead of training again")

        def log(progress: Any) -> None:
            key = (progress.status, progress.step, progress.note)
            if not last or last[-1] != key:
                last.append(key)
                pulumi.log.info(f"fine-tuning {progress.job_id}: {describe(progress)}")

        try:
            result = ensure_fine_tuned_model(
                _client(props), _request(props),
                timeout=timeout_minutes * 60, poll_interval=float(props.get("poll_seconds") or 10),
                on_update=log, on_job=on_job, sleep=sleep_unless_stopping,
            )
        except ProviderStopping:
            job = job_ids[-1] if job_ids else "(not started)"
            pulumi.log.warn(f"`pulumi up` was interrupted while waiting for fine-tuning job {job}: the job keeps "
                            f"running in Azure (and is billed as it trains). The next `pulumi up` adopts it instead "
                            f"of training again; follow it meanwhile with `aoai-ft status {job}`.")
            raise
        pulumi.log.info(f"fine-tuned model {result.fine_tuned_model} (job {result.job_id})")
        checkpoints = _checkpoints(_client(props), result.job_id, result.fine_tuned_model, previous=None)
        return CreateResult(id_=result.job_id, outs={**props, **result.model_dump(include=set(RESULT_KEYS)),
                                                     CHECKPOINTS_KEY: checkpoints})

    def diff(self, _id: str, olds: dict[str, Any], news: dict[str, Any]) -> DiffResult:
        replaces = [key for key in REPLACE_KEYS
                    if _normal(olds.get(key, DEFAULTS.get(key))) != _normal(news.get(key, DEFAULTS.get(key)))]
        return DiffResult(changes=bool(replaces), replaces=replaces, delete_before_replace=False)

    def update(self, _id: str, olds: dict[str, Any], news: dict[str, Any]) -> UpdateResult:
        """Not reached (diff only ever replaces); kept so a forced update can never lose the trained result."""
        return UpdateResult(outs={**news, **{key: olds.get(key) for key in (*RESULT_KEYS, CHECKPOINTS_KEY)}})

    def read(self, id_: str, props: dict[str, Any]) -> ReadResult:
        import openai

        from pipeline.connection import AccountNotFound

        try:
            client = _client(props)
            job = client.fine_tuning.jobs.retrieve(id_)
        except (openai.NotFoundError, AccountNotFound):
            return ReadResult(id_="", outs={})  # the job (or its account) is gone: Pulumi drops the resource
        model = job.fine_tuned_model or props.get("fine_tuned_model")
        checkpoints = _checkpoints(client, id_, model, previous=props.get(CHECKPOINTS_KEY)) if model else None
        return ReadResult(id_=id_, outs={**props, "fine_tuned_model": model, CHECKPOINTS_KEY: checkpoints})

    def delete(self, _id: str, props: dict[str, Any]) -> None:
        from pipeline.connection import AccountNotFound
        from pipeline.finetune import FineTuneResult, delete_fine_tuned_model

        result = FineTuneResult(base_model=props["base_model"], **{k: props.get(k) for k in RESULT_KEYS})
        try:
            client = _client(props)
        except AccountNotFound:
            pulumi.log.info(f"account of {result.fine_tuned_model} is gone; its model and files went with it")
            return
        report = delete_fine_tuned_model(client, result)
        kept = " (the service keeps fine-tuned models; it has no delete call)" if report.model_deleted is None else ""
        pulumi.log.info(f"deleted {result.fine_tuned_model}{kept} and files {', '.join(report.files_deleted) or '-'}")


def _checkpoints(client: Any, job_id: str, model: str, *, previous: Any) -> Any:
    """The job's deployable models as plain dicts; when the service does not answer, `previous` (and a warning):
    a trained model is never lost over its checkpoint list, which `pulumi refresh` reads again."""
    from pipeline.errors import PipelineError
    from pipeline.jobs import list_checkpoints

    try:
        return [point.model_dump() for point in list_checkpoints(client, job_id, final_model=model)]
    except PipelineError as exc:
        pulumi.log.warn(f"could not read the checkpoints of job {job_id} ({exc.message}); only deployCheckpoint "
                        "final works until `pulumi refresh` reads them")
        return previous


def _normal(value: Any) -> Any:
    """Compare 3 and 3.0 (Pulumi turns ints into floats) and {} / None alike."""
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, dict):
        return {k: _normal(v) for k, v in sorted(value.items()) if v is not None} or None
    return None if value == "" else value


@dataclass
class FineTunedModelArgs:
    """What to train and on which account (its ARM id); hashes are sha256 of the files' bytes."""

    account_id: pulumi.Input[str]
    training_path: str
    training_sha256: str
    training: TrainingSettings
    timeout_minutes: int
    validation_path: str | None = None
    validation_sha256: str | None = None
    api_version: str | None = None
    poll_seconds: float = 10.0
    model: pulumi.Input[str] | None = None
    """The model to start from when another stack provides it (continuous fine-tuning); else `training.model`."""


class FineTunedModel(Resource, module="aoai-finetune", name="FineTunedModel"):
    """A fine-tuned model trained from local JSONL files; see the module docstring."""

    fine_tuned_model: pulumi.Output[str]
    job_id: pulumi.Output[str]
    training_file_id: pulumi.Output[str]
    validation_file_id: pulumi.Output[str | None]
    trained_tokens: pulumi.Output[int | None]
    result_file_id: pulumi.Output[str | None]
    checkpoints: pulumi.Output[list[dict[str, Any]] | None]
    """The job's deployable models (see `pipeline.jobs.Checkpoint`), the final model last."""

    def __init__(self, resource_name: str, args: FineTunedModelArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__(FineTunedModelProvider(), resource_name, resource_inputs(args), opts)


def resource_inputs(args: FineTunedModelArgs) -> dict[str, Any]:
    """The resource's input properties (results unset until create), the one shape the provider and tests use."""
    return {
        "account_id": args.account_id,
        "api_version": args.api_version,
        "training_path": args.training_path,
        "training_sha256": args.training_sha256,
        "validation_path": args.validation_path,
        "validation_sha256": args.validation_sha256,
        # the training settings, flat, under the names the provider and existing state use
        "base_model": args.model if args.model is not None else args.training.model,
        "hyperparameters": args.training.hyperparameters(),
        "suffix": args.training.suffix,
        "seed": args.training.seed,
        "method": args.training.method,
        "beta": args.training.beta,
        "timeout_minutes": args.timeout_minutes,
        "poll_seconds": args.poll_seconds,
        **{key: None for key in (*RESULT_KEYS, CHECKPOINTS_KEY)},
    }

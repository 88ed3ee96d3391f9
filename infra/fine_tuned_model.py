"""`FineTunedModel`: the lab's Tasks 7 (upload, train, wait) as one Pulumi resource, a thin dynamic provider.

create  = `pipeline.finetune.ensure_fine_tuned_model` (upload with content dedup, start or adopt the job, wait);
diff    = replace (= train again) only when dataset content hashes or training settings change; a new endpoint,
          key or file path is an in-place update that never retrains;
read    = one GET of the job (cheap refresh);
delete  = `pipeline.finetune.delete_fine_tuned_model` (the model, where the service allows it, and the files).

The provider runs in Pulumi's provider process, which gets it by unpickling (dill) the provider instance stored
in state. So it holds no attributes, keeps no module-level state, and imports `pipeline` inside each method:
everything it needs arrives in the resource's properties. The API key is one of them: the program passes it as a
secret and the resource lists it in `additional_secret_outputs`, so it stays encrypted in state (dynamic
providers do not accept secrets: the engine hands them plain values and re-marks the outputs).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Final

import pulumi
from pulumi.dynamic import CreateResult, DiffResult, ReadResult, Resource, ResourceProvider, UpdateResult

RESOURCE_TYPE: Final = "pulumi-python:dynamic/aoai-finetune:FineTunedModel"
TRAINING_KEYS: Final = (
    "training_sha256", "validation_sha256", "base_model", "hyperparameters", "suffix", "seed",
)
"""Inputs whose change means a different model: the provider replaces (retrains) on these, and only these."""
RESULT_KEYS: Final = (
    "fine_tuned_model", "job_id", "training_file_id", "validation_file_id", "trained_tokens", "result_file_id",
)
SECRET_KEYS: Final = ("api_key",)


def _client(props: dict[str, Any]) -> Any:
    """The data-plane client from the properties: key auth, or Entra ID (azure-identity) when no key is set."""
    from pipeline.clients import ConnectionSettings, openai_client

    settings = ConnectionSettings(endpoint=props["endpoint"], api_key=props.get("api_key") or None,
                                  **({"api_version": props["api_version"]} if props.get("api_version") else {}))
    return openai_client(settings)


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

    serialize_as_secret_always = False  # captures nothing; the key travels as a (secret) property

    def create(self, props: dict[str, Any]) -> CreateResult:
        from pipeline.finetune import ensure_fine_tuned_model
        from pipeline.progress import describe

        _check_content(props)
        last: list[tuple[object, ...]] = []

        def log(progress: Any) -> None:
            key = (progress.status, progress.step, progress.note)
            if not last or last[-1] != key:
                last.append(key)
                pulumi.log.info(f"fine-tuning {progress.job_id}: {describe(progress)}")

        result = ensure_fine_tuned_model(
            _client(props), _request(props),
            timeout=float(props["timeout_minutes"]) * 60, poll_interval=float(props.get("poll_seconds") or 10),
            on_update=log,
        )
        pulumi.log.info(f"fine-tuned model {result.fine_tuned_model} (job {result.job_id})")
        return CreateResult(id_=result.job_id, outs={**props, **result.model_dump(include=set(RESULT_KEYS))})

    def diff(self, _id: str, olds: dict[str, Any], news: dict[str, Any]) -> DiffResult:
        replaces = [key for key in TRAINING_KEYS if _normal(olds.get(key)) != _normal(news.get(key))]
        changed = [key for key in news if key not in RESULT_KEYS and key != "__provider"
                   and _normal(olds.get(key)) != _normal(news.get(key))]
        return DiffResult(changes=bool(changed), replaces=replaces, delete_before_replace=False)

    def update(self, _id: str, olds: dict[str, Any], news: dict[str, Any]) -> UpdateResult:
        """Connection details or paths changed, not the model: keep the trained result."""
        return UpdateResult(outs={**news, **{key: olds.get(key) for key in RESULT_KEYS}})

    def read(self, id_: str, props: dict[str, Any]) -> ReadResult:
        import openai

        try:
            job = _client(props).fine_tuning.jobs.retrieve(id_)
        except openai.NotFoundError:
            return ReadResult(id_="", outs={})  # the job is gone: Pulumi drops the resource from state
        return ReadResult(id_=id_, outs={**props, "fine_tuned_model": job.fine_tuned_model or props.get("fine_tuned_model")})

    def delete(self, _id: str, props: dict[str, Any]) -> None:
        from pipeline.finetune import FineTuneResult, delete_fine_tuned_model

        result = FineTuneResult(base_model=props["base_model"], **{k: props.get(k) for k in RESULT_KEYS})
        report = delete_fine_tuned_model(_client(props), result)
        kept = " (the service keeps fine-tuned models; it has no delete call)" if report.model_deleted is None else ""
        pulumi.log.info(f"deleted {result.fine_tuned_model}{kept} and files {', '.join(report.files_deleted) or '-'}")


def _normal(value: Any) -> Any:
    """Compare 3 and 3.0 (Pulumi turns ints into floats) and {} / None alike."""
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, dict):
        return {k: _normal(v) for k, v in sorted(value.items()) if v is not None} or None
    return None if value == "" else value


@dataclass
class FineTunedModelArgs:
    """What to train and where. `api_key=None` = keyless (Entra ID); hashes are sha256 of the files' bytes."""

    endpoint: pulumi.Input[str]
    training_path: str
    training_sha256: str
    base_model: str
    timeout_minutes: int
    api_key: pulumi.Input[str] | None = None
    validation_path: str | None = None
    validation_sha256: str | None = None
    hyperparameters: dict[str, int | float] = field(default_factory=dict)
    suffix: str | None = None
    seed: int | None = None
    api_version: str | None = None
    poll_seconds: float = 10.0


class FineTunedModel(Resource, module="aoai-finetune", name="FineTunedModel"):
    """A fine-tuned model trained from local JSONL files; see the module docstring."""

    fine_tuned_model: pulumi.Output[str]
    job_id: pulumi.Output[str]
    training_file_id: pulumi.Output[str]
    validation_file_id: pulumi.Output[str | None]
    trained_tokens: pulumi.Output[int | None]
    result_file_id: pulumi.Output[str | None]

    def __init__(self, resource_name: str, args: FineTunedModelArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        props: dict[str, Any] = {
            "endpoint": args.endpoint,
            "api_key": pulumi.Output.secret(args.api_key) if args.api_key is not None else None,
            "api_version": args.api_version,
            "training_path": args.training_path,
            "training_sha256": args.training_sha256,
            "validation_path": args.validation_path,
            "validation_sha256": args.validation_sha256,
            "base_model": args.base_model,
            "hyperparameters": dict(args.hyperparameters),
            "suffix": args.suffix or None,
            "seed": args.seed,
            "timeout_minutes": args.timeout_minutes,
            "poll_seconds": args.poll_seconds,
            **{key: None for key in RESULT_KEYS},
        }
        secret = pulumi.ResourceOptions(additional_secret_outputs=list(SECRET_KEYS))
        super().__init__(FineTunedModelProvider(), resource_name, props, pulumi.ResourceOptions.merge(secret, opts))

"""Fine-tuning jobs: create (with Azure's checks), read, cancel, pause/resume, delete, and settling.

A job's progress is computed by `simulation.Run` from what is stored here. "Settling" is the one write that
follows from time passing: the first read after a job succeeded stores its results file, snapshots its
training data (the model answers from it) and registers the model and its checkpoints in
`fine_tuned_models`, where the ARM plane checks that a model exists before deploying it. `ModelCatalog`
calls `settle_all` before such a lookup, so the ARM plane never sees a stale table.

Choices (documented for users of the emulator):
- A second job while one is pending/running/paused on the account -> 429 `quotaExceeded` with
  `x-should-retry: false` (Azure runs one job at a time per resource; the SDK would otherwise retry).
- A validation file whose check failed is accepted at create; the job then fails when it would start,
  with `error.param = "validation_file"` (the deterministic way to see a `failed` job). A training file
  must be `processed`: `error`/`pending`/`running` are 400 `unexpectedEntityState` at create.
- `fine_tuned_model` = `<base>.ft-<32 hex>` and, with a suffix, `<base>.ft-<32 hex>-<suffix>`; checkpoints
  are deployable as `<fine_tuned_model>:ckpt-step-<N>`.
"""
from __future__ import annotations

import re
import secrets
import threading
from typing import Annotated, Any, Literal, Union

from pydantic import BaseModel, ConfigDict, StrictFloat, StrictInt, StrictStr, ValidationError

from pipeline.emulator.db import from_json, to_json
from pipeline.emulator.errors import AzureError
from pipeline.emulator.models import FINE_TUNABLE_BASE_MODELS
from pipeline.emulator.state import EmulatorState
from pipeline.emulator.dataplane.files import TRAINING_PURPOSE, RESULTS_PURPOSE, FileStore
from pipeline.emulator.dataplane.simulation import ACTIVE, TERMINAL, Run, default_batch_size
from pipeline.emulator.dataplane.training import base_model_of, resolve_epochs

ORGANISATION_ID = "org-emulator"
SUFFIX = re.compile(r"^[a-zA-Z0-9_-]{1,40}$")

SCHEMA = """
CREATE TABLE IF NOT EXISTS jobs (
    account TEXT NOT NULL,
    id TEXT PRIMARY KEY,
    created_at REAL NOT NULL,
    data TEXT NOT NULL,
    deleted INTEGER NOT NULL DEFAULT 0
);
CREATE TABLE IF NOT EXISTS fine_tuned_models (
    account TEXT NOT NULL,
    id TEXT NOT NULL,
    base_model TEXT NOT NULL,
    job_id TEXT NOT NULL,
    created_at REAL NOT NULL,
    deleted_at REAL,
    kind TEXT NOT NULL DEFAULT 'model',
    training_data TEXT,
    PRIMARY KEY (account, id)
);
"""


Auto = Literal["auto"]
Number = Annotated[Union[StrictInt, StrictFloat], "a JSON number"]


class Hyperparameters(BaseModel):
    """Strict types: JSON `true` is not an epoch count, `"3"` is not a batch size (Azure answers 400)."""

    model_config = ConfigDict(extra="forbid")

    n_epochs: Auto | StrictInt | None = None
    batch_size: Auto | StrictInt | None = None
    learning_rate_multiplier: Auto | Number | None = None


class DpoHyperparameters(Hyperparameters):
    beta: Auto | Number | None = None


class SupervisedMethod(BaseModel):
    model_config = ConfigDict(extra="forbid")

    hyperparameters: Hyperparameters | None = None


class DpoMethod(BaseModel):
    model_config = ConfigDict(extra="forbid")

    hyperparameters: DpoHyperparameters | None = None


class Method(BaseModel):
    """Preview/v1 `method`: `{"type": "supervised"|"dpo", "<type>": {"hyperparameters": {...}}}`."""

    model_config = ConfigDict(extra="forbid")

    type: Literal["supervised", "dpo"] = "supervised"
    supervised: SupervisedMethod | None = None
    dpo: DpoMethod | None = None

    def hyperparameters(self) -> dict[str, Any]:
        section = self.supervised if self.type == "supervised" else self.dpo
        if section is None or section.hyperparameters is None:
            return {}
        return section.hyperparameters.model_dump(exclude_none=True)


class JobCreate(BaseModel):
    """POST /fine_tuning/jobs body (GA fields plus preview/v1 `method`, `integrations`, `metadata`)."""

    model_config = ConfigDict(extra="allow")

    model: StrictStr
    training_file: StrictStr
    validation_file: StrictStr | None = None
    hyperparameters: Hyperparameters | None = None
    suffix: StrictStr | None = None
    seed: StrictInt | None = None
    method: Method | None = None
    integrations: list[dict[str, Any]] | None = None
    metadata: dict[StrictStr, StrictStr] | None = None


def invalid(message: str, param: str | None = None, status: int = 400, code: str = "invalidPayload") -> AzureError:
    return AzureError(status, code, message, param=param)


def job_not_found(job_id: str) -> AzureError:
    return AzureError(404, "notFound", f"The fine-tuning job '{job_id}' could not be found.")


def _check_auto(value: Any, name: str, *, minimum: float, maximum: float | None = None) -> None:
    if value is None or value == "auto":
        return
    if isinstance(value, str) or isinstance(value, bool) or value < minimum or (maximum is not None and value > maximum):
        bound = f"between {minimum:g} and {maximum:g}" if maximum is not None else f"at least {minimum:g}"
        raise invalid(f"hyperparameters.{name} must be 'auto' or a number {bound}; got {value!r}.", f"hyperparameters.{name}")


def _field_path(loc: tuple[Any, ...], body: Any, missing: bool) -> list[str]:
    """The part of a pydantic error location that names fields of the body (not union member tags)."""
    path: list[str] = []
    node = body
    for index, part in enumerate(loc):
        if isinstance(node, dict) and part in node:
            node = node[part]
        elif isinstance(node, list) and isinstance(part, int) and 0 <= part < len(node):
            node = node[part]
        elif missing and index == len(loc) - 1 and isinstance(part, str):
            pass
        else:
            break
        path.append(str(part))
    return path


def _describe(exc: ValidationError, body: Any) -> tuple[str, str | None]:
    """(message, param) for the first invalid field, with every reason pydantic gave for it."""
    errors = exc.errors(include_url=False)
    first = errors[0]
    path = _field_path(first["loc"], body, first["type"] == "missing")
    reasons = [e["msg"] for e in errors if _field_path(e["loc"], body, e["type"] == "missing") == path]
    where = ".".join(path)
    reasons = list(dict.fromkeys(reasons))
    return f"Invalid value for '{where or 'body'}': {'; or '.join(reasons)}.", where or None


class JobStore:
    def __init__(self, state: EmulatorState, files: FileStore) -> None:
        self.state, self.files, self.db = state, files, state.db
        self.db.ensure_schema(SCHEMA)
        self._settle_lock = threading.Lock()

    # ---- create ----------------------------------------------------------------------------------------
    def parse(self, body: Any) -> JobCreate:
        if not isinstance(body, dict):
            raise invalid("The request body must be a JSON object.")
        try:
            return JobCreate.model_validate(body)
        except ValidationError as exc:
            raise invalid(*_describe(exc, body)) from None

    def create(self, account: str, req: JobCreate) -> dict[str, Any]:
        base = self._check_model(account, req.model)
        if req.suffix is not None and not SUFFIX.match(req.suffix):
            raise invalid("suffix must be 1-40 characters of a-z, A-Z, 0-9, '-' and '_'.", "suffix")
        hp_in = dict(req.hyperparameters.model_dump(exclude_none=True)) if req.hyperparameters else {}
        if req.method is not None:
            nested = req.method.hyperparameters()
            hp_in = {**{k: v for k, v in nested.items() if k in Hyperparameters.model_fields}, **hp_in}
        _check_auto(hp_in.get("n_epochs"), "n_epochs", minimum=1, maximum=50)
        _check_auto(hp_in.get("batch_size"), "batch_size", minimum=1, maximum=256)
        _check_auto(hp_in.get("learning_rate_multiplier"), "learning_rate_multiplier", minimum=0.0001, maximum=10)

        training = self._usable_file(account, req.training_file, "training_file")
        fails_with = None
        if req.validation_file:
            validation = self._usable_file(account, req.validation_file, "validation_file", allow_error=True)
            if self.files.status(validation) == "error":
                fails_with = f"The validation file failed validation: {validation.check_details}"
        self._check_no_active_job(account)

        examples = training.examples or 0
        n_epochs = resolve_epochs(hp_in.get("n_epochs"), examples)
        batch = hp_in.get("batch_size")
        batch_size = batch if isinstance(batch, int) else default_batch_size(examples)
        lrm = hp_in.get("learning_rate_multiplier")
        job_id = "ftjob-" + secrets.token_hex(16)
        now = self.state.clock.now()
        data = {
            "model": req.model, "base_model": base, "training_file": req.training_file,
            "validation_file": req.validation_file,
            "hyperparameters": {"n_epochs": n_epochs, "batch_size": batch_size,
                                "learning_rate_multiplier": float(lrm) if isinstance(lrm, (int, float)) else 1.0},
            "suffix": req.suffix, "seed": req.seed if req.seed is not None else secrets.randbelow(2**31),
            "method_type": req.method.type if req.method is not None else "supervised",
            "integrations": req.integrations, "metadata": req.metadata,
            "duration": self.state.config.training_seconds, "examples": examples,
            "trained_tokens": (training.tokens_per_epoch or 0) * n_epochs,
            "fine_tuned_model": f"{base}.ft-{secrets.token_hex(16)}" + (f"-{req.suffix}" if req.suffix else ""),
            "fails_with": fails_with, "pauses": [], "paused_at": None, "cancelled_at": None,
            "settled": False, "result_files": [],
        }
        self.db.execute("INSERT INTO jobs (account,id,created_at,data) VALUES (?,?,?,?)",
                        (account, job_id, now, to_json(data)))
        return self.to_api(self.require(account, job_id))

    def _check_model(self, account: str, model: str) -> str:
        if model in FINE_TUNABLE_BASE_MODELS:
            return model
        if self.state.models.fine_tuned_exists(account, model):  # continuous fine-tuning
            return base_model_of(model)
        raise invalid(
            f"The specified base model '{model}' does not support fine-tuning. Supported models: "
            + ", ".join(FINE_TUNABLE_BASE_MODELS) + " (or a fine-tuned model of this resource).", "model")

    def _usable_file(self, account: str, file_id: str, param: str, *, allow_error: bool = False) -> Any:
        record = self.files.get(account, file_id)
        if record is None:
            raise invalid(f"The specified {param.replace('_', ' ')} '{file_id}' does not exist.", param)
        if record.purpose != TRAINING_PURPOSE:
            raise invalid(f"The {param.replace('_', ' ')} '{file_id}' has purpose '{record.purpose}', expected 'fine-tune'.", param)
        status = self.files.status(record)
        if status == "processed" or (allow_error and status == "error"):
            return record
        detail = f": {record.check_details}" if status == "error" else "; wait until its status is 'processed'"
        raise invalid(f"The {param.replace('_', ' ')} '{file_id}' is not processed (status '{status}'){detail}.",
                      param, code="unexpectedEntityState")

    def _check_no_active_job(self, account: str) -> None:
        for job in self._rows(account):
            if self._run(job).status(self.state.clock.now()) in ACTIVE:
                raise AzureError(
                    429, "quotaExceeded",
                    f"The resource already has an active fine-tuning job ({job['id']}); only one job can run at a "
                    "time. Wait for it to finish or cancel it.",
                    headers={"x-should-retry": "false"},
                )

    # ---- reads -------------------------------------------------------------------------------------------
    def _rows(self, account: str) -> list[dict[str, Any]]:
        rows = self.db.query(
            "SELECT id, account, created_at, data FROM jobs WHERE lower(account)=lower(?) AND deleted=0 "
            "ORDER BY created_at DESC, rowid DESC", (account,))
        return [self._job(r) for r in rows]

    @staticmethod
    def _job(row: Any) -> dict[str, Any]:
        return {"id": row["id"], "account": row["account"], "created_at": row["created_at"], **from_json(row["data"])}

    def get(self, account: str, job_id: str) -> dict[str, Any] | None:
        row = self.db.query_one(
            "SELECT id, account, created_at, data FROM jobs WHERE id=? AND lower(account)=lower(?) AND deleted=0",
            (job_id, account))
        if row is None:
            return None
        job = self._job(row)
        if not job["settled"]:
            job = self._settle(job)
        return job

    def require(self, account: str, job_id: str) -> dict[str, Any]:
        job = self.get(account, job_id)
        if job is None:
            raise job_not_found(job_id)
        return job

    def list(self, account: str) -> list[dict[str, Any]]:
        return [self._settle(j) if not j["settled"] else j for j in self._rows(account)]

    def run(self, job: dict[str, Any]) -> Run:
        return self._run(job)

    @staticmethod
    def _run(job: dict[str, Any]) -> Run:
        hp = job["hyperparameters"]
        return Run(
            job_id=job["id"], created_at=job["created_at"], duration=job["duration"], examples=job["examples"],
            n_epochs=hp["n_epochs"], batch_size=hp["batch_size"], seed=job["seed"],
            has_validation=bool(job["validation_file"]), fails_with=job["fails_with"], pauses=job["pauses"],
            paused_at=job["paused_at"], cancelled_at=job["cancelled_at"],
        )

    def to_api(self, job: dict[str, Any]) -> dict[str, Any]:
        now = self.state.clock.now()
        run = self._run(job)
        status = run.status(now)
        finished = run.finished_at(now)
        estimated = run.estimated_finish(now)
        hp = job["hyperparameters"]
        error = None
        if status == "failed":
            error = {"code": "invalidValidationFile", "message": job["fails_with"], "param": "validation_file"}
        succeeded = status == "succeeded"
        return {
            "object": "fine_tuning.job", "id": job["id"], "created_at": int(job["created_at"]), "status": status,
            "model": job["model"], "fine_tuned_model": job["fine_tuned_model"] if succeeded else None,
            "training_file": job["training_file"], "validation_file": job["validation_file"],
            "result_files": job["result_files"] if succeeded else [],
            "finished_at": int(finished) if finished is not None else None,
            "estimated_finish": int(estimated) if estimated is not None else None,
            "organisation_id": ORGANISATION_ID, "organization_id": ORGANISATION_ID,
            "trained_tokens": job["trained_tokens"] if succeeded else None,
            "error": error, "hyperparameters": hp, "suffix": job["suffix"], "seed": job["seed"],
            "method": {"type": job["method_type"], job["method_type"]: {"hyperparameters": hp}},
            "integrations": job["integrations"], "metadata": job["metadata"],
        }

    # ---- actions -----------------------------------------------------------------------------------------
    def _save(self, job: dict[str, Any]) -> None:
        data = {k: v for k, v in job.items() if k not in {"id", "account", "created_at"}}
        self.db.execute("UPDATE jobs SET data=? WHERE id=?", (to_json(data), job["id"]))

    def cancel(self, account: str, job_id: str) -> dict[str, Any]:
        job = self.require(account, job_id)
        now = self.state.clock.now()
        run = self._run(job)
        status = run.status(now)
        if status in TERMINAL:
            raise invalid(f"The fine-tuning job '{job_id}' cannot be cancelled: its status is '{status}'.",
                          code="unexpectedEntityState")
        job["cancelled_at"] = [run.effective(now), now]
        self._save(job)
        return self.to_api(job)

    def pause(self, account: str, job_id: str) -> dict[str, Any]:
        job = self.require(account, job_id)
        now = self.state.clock.now()
        run = self._run(job)
        if run.status(now) != "running" or run.steps_done(now) < 1:
            raise invalid(f"The fine-tuning job '{job_id}' can only be paused while running and after its first "
                          f"step (status '{run.status(now)}').", code="unexpectedEntityState")
        job["paused_at"] = [run.effective(now), now]
        self._save(job)
        return self.to_api(job)

    def resume(self, account: str, job_id: str) -> dict[str, Any]:
        job = self.require(account, job_id)
        now = self.state.clock.now()
        if job["paused_at"] is None or self._run(job).status(now) != "paused":
            raise invalid(f"The fine-tuning job '{job_id}' is not paused.", code="unexpectedEntityState")
        at, started = job["paused_at"]
        job["pauses"] = [*job["pauses"], [at, now - started]]
        job["paused_at"] = None
        self._save(job)
        return self.to_api(job)

    def delete(self, account: str, job_id: str) -> None:
        job = self.require(account, job_id)
        status = self._run(job).status(self.state.clock.now())
        if status not in TERMINAL:
            raise invalid(f"The fine-tuning job '{job_id}' is '{status}'; cancel it before deleting it.",
                          code="unexpectedEntityState")
        self.db.execute("UPDATE jobs SET deleted=1 WHERE id=?", (job_id,))

    # ---- settling ------------------------------------------------------------------------------------------
    def settle_all(self) -> None:
        """Settle every job that finished since it was last read (cheap: only unsettled rows are loaded)."""
        for row in self.db.query("SELECT id, account, created_at, data FROM jobs WHERE data LIKE '%\"settled\":false%'"):
            self._settle(self._job(row))

    def _settle(self, job: dict[str, Any]) -> dict[str, Any]:
        run = self._run(job)
        now = self.state.clock.now()
        status = run.status(now)
        if status not in TERMINAL:
            return job
        with self._settle_lock:
            fresh = self.db.query_one("SELECT id, account, created_at, data FROM jobs WHERE id=?", (job["id"],))
            job = self._job(fresh)
            if job["settled"]:
                return job
            if status == "succeeded":
                self._register_outputs(job, run)
            job["settled"] = True
            self._save(job)
        return job

    def _register_outputs(self, job: dict[str, Any], run: Run) -> None:
        account, model = job["account"], job["fine_tuned_model"]
        results = self.files.add_bytes(account, "results.csv", RESULTS_PURPOSE, run.results_csv().encode())
        job["result_files"] = [results.id]
        training = self.files.get(account, job["training_file"])
        snapshot = str(self.files.snapshot(training, model + ".jsonl")) if training is not None else None
        finished = run.wall(run.duration)
        rows = [(account, model, job["base_model"], job["id"], finished, "model", snapshot)]
        for ckpt in run.checkpoints(finished, model):
            rows.append((account, ckpt["fine_tuned_model_checkpoint"], job["base_model"], job["id"],
                         float(ckpt["created_at"]), "checkpoint", snapshot))
        with self.db.transaction() as conn:
            conn.executemany(
                "INSERT OR REPLACE INTO fine_tuned_models (account,id,base_model,job_id,created_at,deleted_at,kind,"
                "training_data) VALUES (?,?,?,?,?,NULL,?,?)", rows)

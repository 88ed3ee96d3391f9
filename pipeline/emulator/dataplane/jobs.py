"""Fine-tuning jobs: create (with Azure's checks), read, cancel, pause/resume, delete, and settling.

A job's progress is computed by `simulation.Run` from what is stored here. "Settling" is the one write that
follows from time passing: the first read after a job succeeded stores its results file, snapshots its
training data (the model answers from it) and registers the model and its checkpoints in
`fine_tuned_models`, where the ARM plane checks that a model exists before deploying it. `ModelCatalog`
calls `settle_all` before such a lookup, so the ARM plane never sees a stale table. Rows: `job_rows`;
the request body: `job_request`.

Choices (documented for users of the emulator):
- A second job while one is pending/running/paused on the account -> 429 `quotaExceeded` with
  `x-should-retry: false` (Azure runs one job at a time per resource; the SDK would otherwise retry).
- A validation file whose check failed is accepted at create; the job then fails when it would start,
  with `error.param = "validation_file"` (the deterministic way to see a `failed` job). A training file
  must be `processed`: `error`/`pending`/`running` are 400 `unexpectedEntityState` at create.
- `fine_tuned_model` = `<base>.ft-<32 hex>` and, with a suffix, `<base>.ft-<32 hex>-<suffix>`; checkpoints
  are deployable as `<fine_tuned_model>:ckpt-step-<N>`.
- Continuous fine-tuning: `model` may be a fine-tuned model of the same resource; the new model is named after
  the base model (as Azure does), the job keeps `model` = the model it continued, and its events say so.
- DPO (`method.type = "dpo"`): only for the models in `pipeline.dataset.methods.DPO_MODELS` (or models
  fine-tuned from them), only on preview/v1 surfaces, and only with preference-format files; a supervised job
  refuses a preference file and the other way round (400 naming the file).
"""
from __future__ import annotations

import re
import secrets
import threading
from pathlib import Path
from typing import Any

from pipeline.emulator.clock import Clock
from pipeline.emulator.config import EmulatorConfig
from pipeline.emulator.errors import AzureError
from pipeline.emulator.models import FINE_TUNABLE_BASE_MODELS, FineTunedModel, FineTunedModels
from pipeline.emulator.dataplane.files import TRAINING_PURPOSE, RESULTS_PURPOSE, FileRecord, FileStore
from pipeline.dataset.methods import DEFAULT_BETA, DPO_MODELS, supports
from pipeline.emulator.dataplane.job_request import Hyperparameters, JobCreate, check_auto, check_beta, invalid
from pipeline.emulator.dataplane.job_rows import Job, JobRows
from pipeline.emulator.dataplane.simulation import ACTIVE, TERMINAL, Run, default_batch_size
from pipeline.emulator.dataplane.training import base_model_of, resolve_epochs

ORGANISATION_ID = "org-emulator"
SUFFIX = re.compile(r"^[a-zA-Z0-9_-]{1,40}$")


def job_not_found(job_id: str) -> AzureError:
    return AzureError(404, "notFound", f"The fine-tuning job '{job_id}' could not be found.")


class JobStore:
    def __init__(self, rows: JobRows, files: FileStore, fine_tuned: FineTunedModels, clock: Clock,
                 config: EmulatorConfig) -> None:
        self.rows, self.files, self.fine_tuned, self.clock = rows, files, fine_tuned, clock
        self.training_seconds = config.training_seconds
        self._settle_lock = threading.Lock()

    # ---- create ----------------------------------------------------------------------------------------
    def create(self, account: str, req: JobCreate, *, preview: bool = True) -> Job:
        """`preview`: the call came on a preview api-version or the v1 surface (where `method` exists)."""
        base = self._check_model(account, req.model)
        method = req.method.type if req.method is not None else "supervised"
        if method == "dpo":
            self._check_dpo(req.model, base, preview)
        if req.suffix is not None and not SUFFIX.match(req.suffix):
            raise invalid("suffix must be 1-40 characters of a-z, A-Z, 0-9, '-' and '_'.", "suffix")
        hp_in = dict(req.hyperparameters.model_dump(exclude_none=True)) if req.hyperparameters else {}
        beta = None
        if req.method is not None:
            nested = req.method.hyperparameters()
            beta = nested.get("beta")
            hp_in = {**{k: v for k, v in nested.items() if k in Hyperparameters.model_fields}, **hp_in}
        check_auto(hp_in.get("n_epochs"), "n_epochs", minimum=1, maximum=50)
        check_auto(hp_in.get("batch_size"), "batch_size", minimum=1, maximum=256)
        check_auto(hp_in.get("learning_rate_multiplier"), "learning_rate_multiplier", minimum=0.0001, maximum=10)
        check_beta(beta)

        training = self._usable_file(account, req.training_file, "training_file")
        self._check_format(training, method, "training_file")
        fails_with = None
        if req.validation_file:
            validation = self._usable_file(account, req.validation_file, "validation_file", allow_error=True)
            if self.files.status(validation) == "error":
                fails_with = f"The validation file failed validation: {validation.check_details}"
            else:
                self._check_format(validation, method, "validation_file")
        self._check_no_active_job(account)

        examples = training.examples or 0
        n_epochs = resolve_epochs(hp_in.get("n_epochs"), examples)
        batch = hp_in.get("batch_size")
        lrm = hp_in.get("learning_rate_multiplier")
        job = Job(
            account=account, id="ftjob-" + secrets.token_hex(16), created_at=self.clock.now(), model=req.model,
            base_model=base,
            fine_tuned_model=f"{base}.ft-{secrets.token_hex(16)}" + (f"-{req.suffix}" if req.suffix else ""),
            training_file=req.training_file, validation_file=req.validation_file, n_epochs=n_epochs,
            batch_size=batch if isinstance(batch, int) else default_batch_size(examples),
            learning_rate_multiplier=float(lrm) if isinstance(lrm, (int, float)) else 1.0,
            suffix=req.suffix, seed=req.seed if req.seed is not None else secrets.randbelow(2**31),
            method_type=method, duration=self.training_seconds, examples=examples,
            trained_tokens=(training.tokens_per_epoch or 0) * n_epochs, fails_with=fails_with,
            integrations=req.integrations, metadata=req.metadata,
            beta=(float(beta) if isinstance(beta, (int, float)) else DEFAULT_BETA) if method == "dpo" else None,
        )
        self.rows.insert(job)
        return self.require(account, job.id)

    def _check_model(self, account: str, model: str) -> str:
        if model in FINE_TUNABLE_BASE_MODELS:
            return model
        self.settle_all()
        if self.fine_tuned.exists(account, model):  # continuous fine-tuning
            return base_model_of(model)
        raise invalid(
            f"The specified base model '{model}' does not support fine-tuning. Supported models: "
            + ", ".join(FINE_TUNABLE_BASE_MODELS) + " (or a fine-tuned model of this resource).", "model")

    @staticmethod
    def _check_dpo(model: str, base: str, preview: bool) -> None:
        if not preview:
            raise invalid("The 'method' field (and with it DPO) needs api-version 2025-04-01-preview or later, or "
                          "the v1 API (/openai/v1/fine_tuning/jobs).", "method")
        if not supports("dpo", base):
            shown = model if model == base else f"{model}' (a fine-tuned '{base}"
            raise invalid(f"The specified base model '{shown}' does not support direct preference optimization "
                          f"(method 'dpo'). Supported models: {', '.join(DPO_MODELS)}.", "model",
                          code="invalidPayload")

    @staticmethod
    def _check_format(record: FileRecord, method: str, param: str) -> None:
        """A DPO job needs preference pairs; a supervised job needs chat examples."""
        found = record.method or "supervised"
        if found == method:
            return
        wanted = "the preference format (input, preferred_output, non_preferred_output)" if method == "dpo" \
            else "the chat format (a messages list per line)"
        have = "preference (DPO) pairs" if found == "dpo" else "chat (supervised) examples"
        raise invalid(f"The {param.replace('_', ' ')} '{record.id}' holds {have}; a '{method}' job needs {wanted}.",
                      param)

    def _usable_file(self, account: str, file_id: str, param: str, *, allow_error: bool = False) -> FileRecord:
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
        for job in self.rows.list(account):
            if job.run().status(self.clock.now()) in ACTIVE:
                raise AzureError(
                    429, "quotaExceeded",
                    f"The resource already has an active fine-tuning job ({job.id}); only one job can run at a "
                    "time. Wait for it to finish or cancel it.",
                    headers={"x-should-retry": "false"},
                )

    # ---- reads -------------------------------------------------------------------------------------------
    def get(self, account: str, job_id: str) -> Job | None:
        job = self.rows.get(job_id, account)
        return self._settle(job) if job is not None and not job.settled else job

    def require(self, account: str, job_id: str) -> Job:
        job = self.get(account, job_id)
        if job is None:
            raise job_not_found(job_id)
        return job

    def list(self, account: str) -> list[Job]:
        return [self._settle(j) if not j.settled else j for j in self.rows.list(account)]

    def to_api(self, job: Job) -> dict[str, Any]:
        now = self.clock.now()
        run = job.run()
        status = run.status(now)
        finished = run.finished_at(now)
        estimated = run.estimated_finish(now)
        hp = job.hyperparameters
        error = None
        if status == "failed":
            error = {"code": "invalidValidationFile", "message": job.fails_with, "param": "validation_file"}
        succeeded = status == "succeeded"
        return {
            "object": "fine_tuning.job", "id": job.id, "created_at": int(job.created_at), "status": status,
            "model": job.model, "fine_tuned_model": job.fine_tuned_model if succeeded else None,
            "training_file": job.training_file, "validation_file": job.validation_file,
            "result_files": [job.results_file] if succeeded and job.results_file else [],
            "finished_at": int(finished) if finished is not None else None,
            "estimated_finish": int(estimated) if estimated is not None else None,
            "organisation_id": ORGANISATION_ID, "organization_id": ORGANISATION_ID,
            "trained_tokens": job.trained_tokens if succeeded else None,
            "error": error, "hyperparameters": hp, "suffix": job.suffix, "seed": job.seed,
            "method": {"type": job.method_type, job.method_type: {"hyperparameters": hp}},
            "integrations": job.integrations, "metadata": job.metadata,
        }

    # ---- actions -----------------------------------------------------------------------------------------
    def cancel(self, account: str, job_id: str) -> dict[str, Any]:
        job = self.require(account, job_id)
        now = self.clock.now()
        run = job.run()
        status = run.status(now)
        if status in TERMINAL:
            raise invalid(f"The fine-tuning job '{job_id}' cannot be cancelled: its status is '{status}'.",
                          code="unexpectedEntityState")
        job.cancelled_at = (run.effective(now), now)
        self.rows.save_marks(job)
        return self.to_api(job)

    def pause(self, account: str, job_id: str) -> dict[str, Any]:
        job = self.require(account, job_id)
        now = self.clock.now()
        run = job.run()
        if run.status(now) != "running" or run.steps_done(now) < 1:
            raise invalid(f"The fine-tuning job '{job_id}' can only be paused while running and after its first "
                          f"step (status '{run.status(now)}').", code="unexpectedEntityState")
        job.paused_at = (run.effective(now), now)
        self.rows.save_marks(job)
        return self.to_api(job)

    def resume(self, account: str, job_id: str) -> dict[str, Any]:
        job = self.require(account, job_id)
        now = self.clock.now()
        if job.paused_at is None or job.run().status(now) != "paused":
            raise invalid(f"The fine-tuning job '{job_id}' is not paused.", code="unexpectedEntityState")
        at, started = job.paused_at
        job.pauses = [*job.pauses, (at, now - started)]
        job.paused_at = None
        self.rows.save_marks(job)
        return self.to_api(job)

    def delete(self, account: str, job_id: str) -> None:
        job = self.require(account, job_id)
        status = job.run().status(self.clock.now())
        if status not in TERMINAL:
            raise invalid(f"The fine-tuning job '{job_id}' is '{status}'; cancel it before deleting it.",
                          code="unexpectedEntityState")
        self.rows.mark_deleted(job_id)

    # ---- settling ------------------------------------------------------------------------------------------
    def settle_all(self) -> None:
        """Settle every job that finished since it was last read (cheap: only unsettled rows are loaded)."""
        for job in self.rows.unsettled():
            self._settle(job)

    def _settle(self, job: Job) -> Job:
        run = job.run()
        status = run.status(self.clock.now())
        if status not in TERMINAL:
            return job
        with self._settle_lock:
            fresh = self.rows.get(job.id)
            if fresh is None or fresh.settled:
                return fresh or job
            if status == "succeeded":
                self._register_outputs(fresh, run)
            fresh.settled = True
            self.rows.save_marks(fresh)
        return fresh

    def _register_outputs(self, job: Job, run: Run) -> None:
        account, model = job.account, job.fine_tuned_model
        job.results_file = self.files.add_bytes(account, "results.csv", RESULTS_PURPOSE, run.results_csv().encode()).id
        training = self.files.get(account, job.training_file)
        snapshot = str(self.files.snapshot(training, model + ".jsonl")) if training is not None else None
        parent = self.fine_tuned.get(job.continued_from, account) if job.continued_from else None
        if parent is not None and parent.training_data and snapshot:  # lineage: it knows what its parent knew
            snapshot = str(self.files.combine([Path(parent.training_data), Path(snapshot)], model + ".lineage.jsonl"))
        finished = run.wall(run.duration)
        models = [FineTunedModel(account, model, job.base_model, job.id, finished, "model", snapshot)]
        for ckpt in run.checkpoints(finished, model):
            models.append(FineTunedModel(account, ckpt["fine_tuned_model_checkpoint"], job.base_model, job.id,
                                         float(ckpt["created_at"]), "checkpoint", snapshot))
        self.fine_tuned.register(models)

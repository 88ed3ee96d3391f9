"""Which models an account has: the base models that can be fine-tuned (and deployed) plus the fine-tuned
models (and kept checkpoints) its jobs produced, in the `fine_tuned_models` table.

The table is written by the data plane's jobs when they settle and read by both planes: the ARM plane checks a
model exists before deploying it, the data plane lists and deletes models and answers chat from a model's
training data. `ModelCatalog` settles finished jobs before every lookup (its `settle` callable, given at
construction), so neither plane sees a stale table.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterable

from pipeline.emulator.db import Database

# Base models this emulator can fine-tune (Azure's fine-tunable models; Learn: fine-tuning models).
FINE_TUNABLE_BASE_MODELS: tuple[str, ...] = (
    "gpt-35-turbo-0613",
    "gpt-35-turbo-1106",
    "gpt-35-turbo-0125",
    "gpt-4o-mini-2024-07-18",
    "gpt-4o-2024-08-06",
    "gpt-4.1-2025-04-14",
    "gpt-4.1-mini-2025-04-14",
    "gpt-4.1-nano-2025-04-14",
)

# What every deployment reports as its capabilities (ARM) and what chat enforces (data plane).
MAX_CONTEXT_TOKENS = 128_000
MAX_OUTPUT_TOKENS = 16_384

SCHEMA = """
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


@dataclass(frozen=True)
class FineTunedModel:
    """A model or checkpoint (`kind`) a succeeded job registered; `training_data` is what it answers from."""

    account: str
    id: str
    base_model: str
    job_id: str
    created_at: float
    kind: str = "model"
    training_data: str | None = None


def _model(row: Any) -> FineTunedModel:
    return FineTunedModel(account=row["account"], id=row["id"], base_model=row["base_model"], job_id=row["job_id"],
                          created_at=row["created_at"], kind=row["kind"], training_data=row["training_data"])


class FineTunedModels:
    """The `fine_tuned_models` table as it is: no settling (the jobs that write it use this one)."""

    def __init__(self, db: Database) -> None:
        self.db = db
        db.ensure_schema(SCHEMA)

    def register(self, models: Iterable[FineTunedModel]) -> None:
        with self.db.transaction() as conn:
            conn.executemany(
                "INSERT OR REPLACE INTO fine_tuned_models (account,id,base_model,job_id,created_at,deleted_at,kind,"
                "training_data) VALUES (?,?,?,?,?,NULL,?,?)",
                [(m.account, m.id, m.base_model, m.job_id, m.created_at, m.kind, m.training_data) for m in models])

    def exists(self, account: str, model: str) -> bool:
        return self.db.query_one(
            "SELECT 1 FROM fine_tuned_models WHERE lower(account)=lower(?) AND id=? AND deleted_at IS NULL",
            (account, model)) is not None

    def get(self, model: str, account: str | None = None, *, include_checkpoints: bool = True) -> FineTunedModel | None:
        """The live model (any account unless given: ids are globally unique)."""
        sql = "SELECT * FROM fine_tuned_models WHERE id=? AND deleted_at IS NULL"
        params: tuple = (model,)
        if account is not None:
            sql += " AND lower(account)=lower(?)"
            params += (account,)
        if not include_checkpoints:
            sql += " AND kind='model'"
        row = self.db.query_one(sql, params)
        return _model(row) if row is not None else None

    def list(self, account: str) -> list[FineTunedModel]:
        """The account's live models, checkpoints left out, oldest first."""
        rows = self.db.query(
            "SELECT * FROM fine_tuned_models WHERE lower(account)=lower(?) AND deleted_at IS NULL AND kind='model' "
            "ORDER BY created_at", (account,))
        return [_model(r) for r in rows]

    def delete(self, account: str, model: str, now: float) -> None:
        self.db.execute("UPDATE fine_tuned_models SET deleted_at=? WHERE lower(account)=lower(?) AND id=?",
                        (now, account, model))


class ModelCatalog:
    """Settled lookups for both planes: `settle` brings the table up to date with jobs that finished since."""

    def __init__(self, fine_tuned: FineTunedModels, settle: Callable[[], None]) -> None:
        self.fine_tuned, self._settle = fine_tuned, settle
        self._training_data: dict[str, Path | None] = {}

    def is_base_model(self, model: str) -> bool:
        return model in FINE_TUNABLE_BASE_MODELS

    def fine_tuned_exists(self, account: str, model: str) -> bool:
        """True when a succeeded job of `account` produced `model` (or one of its kept checkpoints) and it was
        not deleted."""
        self._settle()
        return self.fine_tuned.exists(account, model)

    def exists(self, account: str, model: str) -> bool:
        return self.is_base_model(model) or self.fine_tuned_exists(account, model)

    def get_fine_tuned(self, model: str, account: str | None = None, *,
                       include_checkpoints: bool = True) -> FineTunedModel | None:
        self._settle()
        return self.fine_tuned.get(model, account, include_checkpoints=include_checkpoints)

    def list_fine_tuned(self, account: str) -> list[FineTunedModel]:
        self._settle()
        return self.fine_tuned.list(account)

    def training_data_of(self, model: str) -> Path | None:
        """The training data a fine-tuned model answers from (None for base models), cached per model."""
        if model in self._training_data:
            return self._training_data[model]
        if ".ft-" not in model:
            return None
        found = self.get_fine_tuned(model)
        path = Path(found.training_data) if found is not None and found.training_data else None
        if found is not None:
            self._training_data[model] = path
        return path

"""Fine-tuning jobs in sqlite: one typed row per job, real columns for everything that is queried or updated.

What a job was created with is fixed; what changes later is its pause/cancel marks, `settled` (its outputs
are registered: the one write time passing causes, found through `settled = 0`), its results file and the
`deleted` flag. Its status is not stored: `simulation.Run` computes it from these columns and the clock.
Only `integrations` and `metadata`, echoed back as sent, and a DPO job's `beta` stay JSON (`extra`).

A `--data-dir` written before these columns (jobs as one JSON `data` blob) is migrated in place at start.
"""
from __future__ import annotations

import sqlite3
from dataclasses import dataclass, field
from typing import Any

from pipeline.emulator.db import Database, from_json, to_json
from pipeline.emulator.dataplane.simulation import Run

SCHEMA = """
CREATE TABLE IF NOT EXISTS jobs (
    account TEXT NOT NULL,
    id TEXT PRIMARY KEY,
    created_at REAL NOT NULL,
    model TEXT NOT NULL,
    base_model TEXT NOT NULL,
    fine_tuned_model TEXT NOT NULL,
    training_file TEXT NOT NULL,
    validation_file TEXT,
    n_epochs INTEGER NOT NULL,
    batch_size INTEGER NOT NULL,
    learning_rate_multiplier REAL NOT NULL,
    suffix TEXT,
    seed INTEGER NOT NULL,
    method_type TEXT NOT NULL,
    duration REAL NOT NULL,
    examples INTEGER NOT NULL,
    trained_tokens INTEGER NOT NULL,
    fails_with TEXT,
    paused_effective REAL,
    paused_wall REAL,
    cancelled_effective REAL,
    cancelled_wall REAL,
    settled INTEGER NOT NULL DEFAULT 0,
    results_file TEXT,
    deleted INTEGER NOT NULL DEFAULT 0,
    extra TEXT NOT NULL DEFAULT '{}'
);
CREATE INDEX IF NOT EXISTS jobs_unsettled ON jobs (settled) WHERE settled = 0;
CREATE TABLE IF NOT EXISTS job_pauses (
    account TEXT NOT NULL,  -- so purging an account drops its jobs' pauses too
    job_id TEXT NOT NULL,
    effective_at REAL NOT NULL,
    wall_length REAL NOT NULL
);
"""
COLUMNS = (
    "account", "id", "created_at", "model", "base_model", "fine_tuned_model", "training_file", "validation_file",
    "n_epochs", "batch_size", "learning_rate_multiplier", "suffix", "seed", "method_type", "duration", "examples",
    "trained_tokens", "fails_with", "paused_effective", "paused_wall", "cancelled_effective", "cancelled_wall",
    "settled", "results_file", "deleted", "extra",
)


@dataclass
class Job:
    account: str
    id: str
    created_at: float
    model: str
    base_model: str
    fine_tuned_model: str
    training_file: str
    validation_file: str | None
    n_epochs: int
    batch_size: int
    learning_rate_multiplier: float
    suffix: str | None
    seed: int
    method_type: str
    duration: float
    examples: int
    trained_tokens: int
    fails_with: str | None
    integrations: list[dict[str, Any]] | None = None
    metadata: dict[str, str] | None = None
    beta: float | None = None  # DPO jobs only
    pauses: list[tuple[float, float]] = field(default_factory=list)  # (effective_at, wall_length), oldest first
    paused_at: tuple[float, float] | None = None  # (effective_at, wall_start) of the current pause
    cancelled_at: tuple[float, float] | None = None  # (effective_at, wall_time)
    settled: bool = False
    results_file: str | None = None

    @property
    def hyperparameters(self) -> dict[str, Any]:
        values: dict[str, Any] = {"batch_size": self.batch_size,
                                  "learning_rate_multiplier": self.learning_rate_multiplier, "n_epochs": self.n_epochs}
        if self.method_type == "dpo":
            values["beta"] = self.beta
        return values

    @property
    def continued_from(self) -> str | None:
        """The fine-tuned model this job continues training (continuous fine-tuning), else None."""
        return self.model if self.model != self.base_model else None

    def run(self) -> Run:
        """The simulation of this job: its status, steps, events and checkpoints at any time."""
        return Run(
            job_id=self.id, created_at=self.created_at, duration=self.duration, examples=self.examples,
            n_epochs=self.n_epochs, batch_size=self.batch_size, seed=self.seed,
            has_validation=bool(self.validation_file), fails_with=self.fails_with,
            pauses=[list(p) for p in self.pauses], paused_at=_mark(self.paused_at),
            cancelled_at=_mark(self.cancelled_at), method=self.method_type, beta=self.beta,
            continued_from=self.continued_from,
        )


def _mark(pair: tuple[float, float] | None) -> list[float] | None:
    return list(pair) if pair is not None else None


def _pair(first: float | None, second: float | None) -> tuple[float, float] | None:
    return (first, second) if first is not None and second is not None else None


def _insert(conn: sqlite3.Connection, job: Job, *, deleted: bool = False) -> None:
    paused, cancelled = job.paused_at or (None, None), job.cancelled_at or (None, None)
    values = (job.account, job.id, job.created_at, job.model, job.base_model, job.fine_tuned_model, job.training_file,
              job.validation_file, job.n_epochs, job.batch_size, job.learning_rate_multiplier, job.suffix, job.seed,
              job.method_type, job.duration, job.examples, job.trained_tokens, job.fails_with, *paused, *cancelled,
              int(job.settled), job.results_file, int(deleted),
              to_json({"integrations": job.integrations, "metadata": job.metadata, "beta": job.beta}))
    conn.execute(f"INSERT INTO jobs ({','.join(COLUMNS)}) VALUES ({','.join('?' * len(COLUMNS))})", values)
    _insert_pauses(conn, job)


def _insert_pauses(conn: sqlite3.Connection, job: Job) -> None:
    conn.executemany("INSERT INTO job_pauses VALUES (?,?,?,?)",
                     [(job.account, job.id, at, length) for at, length in job.pauses])


class JobRows:
    """Reads and writes of `jobs` and `job_pauses`; no rules (those are `jobs.JobStore`'s)."""

    def __init__(self, db: Database) -> None:
        self.db = db
        legacy = db.has_column("jobs", "data")
        if legacy:
            db.execute("ALTER TABLE jobs RENAME TO jobs_json")
        db.ensure_schema(SCHEMA)
        if legacy:
            self._migrate_json_rows()

    def insert(self, job: Job) -> None:
        with self.db.transaction() as conn:
            _insert(conn, job)

    def get(self, job_id: str, account: str | None = None) -> Job | None:
        """A job that is not deleted (of `account` when given)."""
        sql, params = "SELECT * FROM jobs WHERE id=? AND deleted=0", (job_id,)
        if account is not None:
            sql, params = sql + " AND lower(account)=lower(?)", (job_id, account)
        rows = self._jobs(self.db.query(sql, params))
        return rows[0] if rows else None

    def list(self, account: str) -> list[Job]:
        """The account's jobs, newest first."""
        return self._jobs(self.db.query(
            "SELECT * FROM jobs WHERE lower(account)=lower(?) AND deleted=0 ORDER BY created_at DESC, rowid DESC",
            (account,)))

    def unsettled(self) -> list[Job]:
        return self._jobs(self.db.query("SELECT * FROM jobs WHERE settled=0"))

    def save_marks(self, job: Job) -> None:
        """Store what pause, resume, cancel and settling change."""
        paused, cancelled = job.paused_at or (None, None), job.cancelled_at or (None, None)
        with self.db.transaction() as conn:
            conn.execute(
                "UPDATE jobs SET paused_effective=?, paused_wall=?, cancelled_effective=?, cancelled_wall=?, "
                "settled=?, results_file=? WHERE id=?",
                (*paused, *cancelled, int(job.settled), job.results_file, job.id))
            conn.execute("DELETE FROM job_pauses WHERE job_id=?", (job.id,))
            _insert_pauses(conn, job)

    def mark_deleted(self, job_id: str) -> None:
        self.db.execute("UPDATE jobs SET deleted=1 WHERE id=?", (job_id,))

    def _jobs(self, rows: list[Any]) -> list[Job]:
        if not rows:
            return []
        ids = [row["id"] for row in rows]
        pauses: dict[str, list[tuple[float, float]]] = {}
        for pause in self.db.query(
                f"SELECT * FROM job_pauses WHERE job_id IN ({','.join('?' * len(ids))}) ORDER BY rowid", tuple(ids)):
            pauses.setdefault(pause["job_id"], []).append((pause["effective_at"], pause["wall_length"]))
        return [_job(row, pauses.get(row["id"], [])) for row in rows]

    def _migrate_json_rows(self) -> None:
        """Jobs of an older data dir (`data` = the job as JSON) into the typed columns, in one transaction."""
        old = self.db.query("SELECT * FROM jobs_json ORDER BY rowid")
        with self.db.transaction() as conn:
            for row in old:
                data = from_json(row["data"])
                hp = data["hyperparameters"]
                job = Job(
                    account=row["account"], id=row["id"], created_at=row["created_at"], model=data["model"],
                    base_model=data["base_model"], fine_tuned_model=data["fine_tuned_model"],
                    training_file=data["training_file"], validation_file=data["validation_file"],
                    n_epochs=hp["n_epochs"], batch_size=hp["batch_size"],
                    learning_rate_multiplier=hp["learning_rate_multiplier"], suffix=data["suffix"],
                    seed=data["seed"], method_type=data["method_type"], duration=data["duration"],
                    examples=data["examples"], trained_tokens=data["trained_tokens"], fails_with=data["fails_with"],
                    integrations=data["integrations"], metadata=data["metadata"],
                    pauses=[(at, length) for at, length in data["pauses"]],
                    paused_at=_pair(*(data["paused_at"] or (None, None))),
                    cancelled_at=_pair(*(data["cancelled_at"] or (None, None))),
                    settled=bool(data["settled"]), results_file=(data["result_files"] or [None])[0],
                )
                _insert(conn, job, deleted=bool(row["deleted"]))
            conn.execute("DROP TABLE jobs_json")


def _job(row: Any, pauses: list[tuple[float, float]]) -> Job:
    extra = from_json(row["extra"]) or {}
    return Job(
        account=row["account"], id=row["id"], created_at=row["created_at"], model=row["model"],
        base_model=row["base_model"], fine_tuned_model=row["fine_tuned_model"], training_file=row["training_file"],
        validation_file=row["validation_file"], n_epochs=row["n_epochs"], batch_size=row["batch_size"],
        learning_rate_multiplier=row["learning_rate_multiplier"], suffix=row["suffix"], seed=row["seed"],
        method_type=row["method_type"], duration=row["duration"], examples=row["examples"],
        trained_tokens=row["trained_tokens"], fails_with=row["fails_with"],
        integrations=extra.get("integrations"), metadata=extra.get("metadata"), beta=extra.get("beta"), pauses=pauses,
        paused_at=_pair(row["paused_effective"], row["paused_wall"]),
        cancelled_at=_pair(row["cancelled_effective"], row["cancelled_wall"]),
        settled=bool(row["settled"]), results_file=row["results_file"],
    )

"""Evals, runs and output items in sqlite; a run's status and progress are a function of the clock.

A run's samples and grades are computed once, when it is created; the clock then reveals them: `queued` for the
first tenth of `eval_run_seconds`, `in_progress` while the items complete one by one (output items and
`result_counts` grow), `completed` at the end, or `failed` (with `error`) when the deployment could not be
asked at all. `canceled` freezes a run where the clock had it.
"""
from __future__ import annotations

import math
import secrets
from typing import Any, Final

from pipeline.emulator.db import Database, from_json, to_json
from pipeline.emulator.errors import AzureError

QUEUED_FRACTION: Final = 0.1
TERMINAL: Final = frozenset({"completed", "failed", "canceled"})

SCHEMA = """
CREATE TABLE IF NOT EXISTS evals (
    account TEXT NOT NULL COLLATE NOCASE,
    id TEXT PRIMARY KEY,
    created_at REAL NOT NULL,
    body TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS eval_runs (
    account TEXT NOT NULL COLLATE NOCASE,
    id TEXT PRIMARY KEY,
    eval_id TEXT NOT NULL,
    created_at REAL NOT NULL,
    duration REAL NOT NULL,
    body TEXT NOT NULL,
    items INTEGER NOT NULL,
    error TEXT,
    canceled_at REAL
);
CREATE TABLE IF NOT EXISTS eval_output_items (
    run_id TEXT NOT NULL,
    idx INTEGER NOT NULL,
    body TEXT NOT NULL,
    PRIMARY KEY (run_id, idx)
);
"""


def eval_not_found(eval_id: str) -> AzureError:
    return AzureError(404, "NotFound", f"Eval with id '{eval_id}' not found.")


def run_not_found(run_id: str) -> AzureError:
    return AzureError(404, "NotFound", f"Eval run with id '{run_id}' not found.")


class EvalStore:
    def __init__(self, db: Database) -> None:
        self.db = db
        db.ensure_schema(SCHEMA)

    # ----- evals ---------------------------------------------------------------------------------------------
    def add_eval(self, account: str, body: dict[str, Any], now: float) -> dict[str, Any]:
        body = {"object": "eval", "id": "eval_" + secrets.token_hex(12), "created_at": int(now), **body}
        self.db.execute("INSERT INTO evals VALUES (?,?,?,?)", (account, body["id"], now, to_json(body)))
        return body

    def get_eval(self, account: str, eval_id: str) -> dict[str, Any]:
        row = self.db.query_one("SELECT body FROM evals WHERE account=? AND id=?", (account, eval_id))
        if row is None:
            raise eval_not_found(eval_id)
        return from_json(row["body"])

    def list_evals(self, account: str) -> list[dict[str, Any]]:
        rows = self.db.query("SELECT body FROM evals WHERE account=? ORDER BY created_at, rowid", (account,))
        return [from_json(r["body"]) for r in rows]

    def save_eval(self, account: str, body: dict[str, Any]) -> dict[str, Any]:
        self.db.execute("UPDATE evals SET body=? WHERE account=? AND id=?", (to_json(body), account, body["id"]))
        return body

    def delete_eval(self, account: str, eval_id: str) -> None:
        self.get_eval(account, eval_id)
        with self.db.transaction() as conn:
            conn.execute("DELETE FROM eval_output_items WHERE run_id IN (SELECT id FROM eval_runs WHERE eval_id=?)",
                         (eval_id,))
            conn.execute("DELETE FROM eval_runs WHERE eval_id=?", (eval_id,))
            conn.execute("DELETE FROM evals WHERE id=?", (eval_id,))

    # ----- runs ----------------------------------------------------------------------------------------------
    def add_run(self, account: str, eval_id: str, body: dict[str, Any], items: list[dict[str, Any]],
                error: dict[str, str] | None, now: float, duration: float) -> dict[str, Any]:
        run_id = "evalrun_" + secrets.token_hex(12)
        body = {"object": "eval.run", "id": run_id, "eval_id": eval_id, "created_at": int(now), **body}
        with self.db.transaction() as conn:
            conn.execute("INSERT INTO eval_runs VALUES (?,?,?,?,?,?,?,?,NULL)",
                         (account, run_id, eval_id, now, duration, to_json(body), len(items),
                          to_json(error) if error else None))
            conn.executemany("INSERT INTO eval_output_items VALUES (?,?,?)",
                             [(run_id, index, to_json({**item, "run_id": run_id, "eval_id": eval_id}))
                              for index, item in enumerate(items)])
        return self.get_run(account, eval_id, run_id, now)

    def _run_row(self, account: str, eval_id: str, run_id: str) -> Any:
        self.get_eval(account, eval_id)
        row = self.db.query_one("SELECT * FROM eval_runs WHERE account=? AND eval_id=? AND id=?",
                                (account, eval_id, run_id))
        if row is None:
            raise run_not_found(run_id)
        return row

    def get_run(self, account: str, eval_id: str, run_id: str, now: float) -> dict[str, Any]:
        return self._present(self._run_row(account, eval_id, run_id), now)

    def list_runs(self, account: str, eval_id: str, now: float) -> list[dict[str, Any]]:
        self.get_eval(account, eval_id)
        rows = self.db.query("SELECT * FROM eval_runs WHERE account=? AND eval_id=? ORDER BY created_at, rowid",
                             (account, eval_id))
        return [self._present(r, now) for r in rows]

    def cancel_run(self, account: str, eval_id: str, run_id: str, now: float) -> dict[str, Any]:
        row = self._run_row(account, eval_id, run_id)
        status = _status(row, now)
        if status in TERMINAL:
            raise AzureError(400, "unexpectedEntityState", f"The eval run '{run_id}' is already {status}.")
        self.db.execute("UPDATE eval_runs SET canceled_at=? WHERE id=?", (now, run_id))
        return self.get_run(account, eval_id, run_id, now)

    def delete_run(self, account: str, eval_id: str, run_id: str) -> None:
        self._run_row(account, eval_id, run_id)
        with self.db.transaction() as conn:
            conn.execute("DELETE FROM eval_output_items WHERE run_id=?", (run_id,))
            conn.execute("DELETE FROM eval_runs WHERE id=?", (run_id,))

    def output_items(self, account: str, eval_id: str, run_id: str, now: float) -> list[dict[str, Any]]:
        """The items done so far, in dataset order."""
        row = self._run_row(account, eval_id, run_id)
        rows = self.db.query("SELECT body FROM eval_output_items WHERE run_id=? AND idx < ? ORDER BY idx",
                             (run_id, _done(row, now)))
        return [from_json(r["body"]) for r in rows]

    def _present(self, row: Any, now: float) -> dict[str, Any]:
        body = from_json(row["body"])
        status = _status(row, now)
        items = [from_json(r["body"]) for r in self.db.query(
            "SELECT body FROM eval_output_items WHERE run_id=? AND idx < ? ORDER BY idx", (row["id"], _done(row, now)))]
        criteria = body.pop("_criteria", [])
        counts = {"total": len(items), "passed": 0, "failed": 0, "errored": 0}
        per = {name: {"testing_criteria": name, "passed": 0, "failed": 0} for name in criteria}
        usage: dict[str, dict[str, Any]] = {}
        for item in items:
            counts[{"pass": "passed", "fail": "failed"}.get(item["status"], "errored")] += 1
            for result in item["results"]:
                entry = per.setdefault(result["name"], {"testing_criteria": result["name"], "passed": 0, "failed": 0})
                entry["passed" if result["passed"] else "failed"] += 1
            for name, used in item.pop("_usage", {}).items():
                total = usage.setdefault(name, {"model_name": name, "invocation_count": 0, "prompt_tokens": 0,
                                                "completion_tokens": 0, "total_tokens": 0, "cached_tokens": 0})
                for key in ("invocation_count", "prompt_tokens", "completion_tokens", "total_tokens"):
                    total[key] += used.get(key, 0)
        error = from_json(row["error"]) if status == "failed" else None
        return {**body, "status": status, "result_counts": counts, "per_testing_criteria_results": list(per.values()),
                "per_model_usage": list(usage.values()), "error": error}


def _elapsed(row: Any, now: float) -> float:
    end = row["canceled_at"] if row["canceled_at"] is not None else now
    return max(0.0, end - row["created_at"])


def _status(row: Any, now: float) -> str:
    elapsed, duration = _elapsed(row, now), row["duration"]
    if row["canceled_at"] is not None and elapsed < duration:
        return "canceled"
    if elapsed < duration * QUEUED_FRACTION:
        return "queued"
    if row["error"] is not None:
        return "failed"
    return "completed" if elapsed >= duration else "in_progress"


def _done(row: Any, now: float) -> int:
    """How many items the clock has completed."""
    if _status(row, now) in ("queued", "failed"):
        return 0
    elapsed, duration = _elapsed(row, now), row["duration"]
    if elapsed >= duration:
        return int(row["items"])
    start = duration * QUEUED_FRACTION
    return min(int(row["items"]), math.floor(row["items"] * (elapsed - start) / max(duration - start, 1e-9)))

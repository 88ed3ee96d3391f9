"""sqlite behind a lock: the emulator's only state, so a restart with `--data-dir` keeps files, jobs and
deployments. Each plane creates its own tables through `ensure_schema`.

`generation` counts writes; `ReadCache` keeps values read from the database until the next write, which is how
the chat route avoids a query per request for the account and deployment it serves while still seeing a
deployment created or deleted through the ARM plane on the very next request."""
from __future__ import annotations

import json
import sqlite3
import threading
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Callable, Generic, Hashable, Iterator, TypeVar

T = TypeVar("T")


class Database:
    def __init__(self, data_dir: Path | None) -> None:
        if data_dir is None:
            target = ":memory:"
        else:
            data_dir.mkdir(parents=True, exist_ok=True)
            target = str(data_dir / "emulator.sqlite3")
        self.data_dir = data_dir
        self._conn = sqlite3.connect(target, check_same_thread=False, isolation_level=None)
        self._conn.row_factory = sqlite3.Row
        self._lock = threading.RLock()
        self.generation = 0  # bumped after every write is visible (see ReadCache)
        if data_dir is not None:
            self._conn.execute("PRAGMA journal_mode=WAL")

    def ensure_schema(self, ddl: str) -> None:
        """`CREATE ... IF NOT EXISTS` statements only: creating a table changes no row, so no generation bump."""
        with self._lock:
            self._conn.executescript(ddl)

    def execute(self, sql: str, params: tuple | dict = ()) -> sqlite3.Cursor:
        """A statement that may write (reads go through `query`/`query_one`)."""
        with self._lock:
            try:
                return self._conn.execute(sql, params)
            finally:
                self.generation += 1

    def query(self, sql: str, params: tuple | dict = ()) -> list[sqlite3.Row]:
        with self._lock:
            return self._conn.execute(sql, params).fetchall()

    def query_one(self, sql: str, params: tuple | dict = ()) -> sqlite3.Row | None:
        with self._lock:
            return self._conn.execute(sql, params).fetchone()

    def has_column(self, table: str, column: str) -> bool:
        """Whether `table` has `column` (what a store checks to bring an older data dir's table up to date)."""
        return any(row["name"] == column for row in self.query(f'PRAGMA table_info("{table}")'))

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """Hold the lock across several statements and commit them together."""
        with self._lock:
            self._conn.execute("BEGIN IMMEDIATE")
            self.generation += 1  # reads inside the transaction see its writes, and nothing they cache outlives it
            try:
                yield self._conn
            except BaseException:
                self._conn.execute("ROLLBACK")
                raise
            else:
                self._conn.execute("COMMIT")
            finally:
                self.generation += 1

    def close(self) -> None:
        with self._lock:
            self._conn.close()


class ReadCache(Generic[T]):
    """Values loaded from `db`, kept until the next write to it (any table: writes are rare, reads are not).

    The generation is read before loading, so a value loaded while a write lands is dropped on the next lookup,
    never served as current. Values are shared between callers: treat them as read-only. Keys come from requests
    (names in paths), so at most `max_entries` are kept."""

    def __init__(self, db: Database, max_entries: int = 4096) -> None:
        self.db, self.max_entries = db, max_entries
        self._generation = -1
        self._values: dict[Hashable, T] = {}

    def __len__(self) -> int:
        return len(self._values)

    def get(self, key: Hashable, load: Callable[[], T]) -> T:
        generation = self.db.generation
        values = self._values
        if self._generation != generation or len(values) >= self.max_entries:
            values = self._values = {}
            self._generation = generation
        try:
            return values[key]
        except KeyError:
            value = values[key] = load()
            return value


def to_json(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"), sort_keys=True)


def from_json(text: str | None) -> Any:
    return None if text is None else json.loads(text)

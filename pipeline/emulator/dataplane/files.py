"""Files: uploaded training data and generated results, on disk; metadata and check results in sqlite.

Uploads are streamed (starlette spools the multipart part to a temp file; we copy it in chunks into the
store, counting bytes against the 512 MB limit), never read into memory. A copy goes to `<id>.partial` and is
renamed once complete, then recorded; a start removes whatever a crash (kill -9) left between those steps:
`.partial` files and stored files without a row. A `fine-tune` file goes
`pending` -> `running` -> `processed`|`error` on the clock (config.file_processing_seconds): the
dataset library's check runs in a background thread right after the upload, and the terminal status is
shown once both the clock has passed and the check has finished. Checks interrupted by a restart re-run.
"""
from __future__ import annotations

import os
import secrets
import shutil
import tempfile
import threading
import weakref
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

from pipeline.emulator.clock import Clock
from pipeline.emulator.config import EmulatorConfig
from pipeline.emulator.db import Database
from pipeline.emulator.errors import AzureError
from pipeline.emulator.dataplane.training import DataCheck, check_training_file

PARTIAL_SUFFIX = ".partial"
MAX_UPLOAD_BYTES = 512 * 1024 * 1024  # Azure's limit on a training file uploaded through the API
COPY_CHUNK = 1024 * 1024
UPLOAD_PURPOSES = ("fine-tune", "assistants", "batch", "user_data", "evals", "vision")
TRAINING_PURPOSE = "fine-tune"
RESULTS_PURPOSE = "fine-tune-results"

SCHEMA = """
CREATE TABLE IF NOT EXISTS files (
    account TEXT NOT NULL,
    id TEXT PRIMARY KEY,
    filename TEXT NOT NULL,
    purpose TEXT NOT NULL,
    bytes INTEGER NOT NULL,
    created_at REAL NOT NULL,
    path TEXT NOT NULL,
    check_ok INTEGER,
    check_details TEXT,
    examples INTEGER,
    tokens_per_epoch INTEGER,
    method TEXT
);
"""


@dataclass
class FileRecord:
    account: str
    id: str
    filename: str
    purpose: str
    bytes: int
    created_at: float
    path: Path
    check_ok: bool | None
    check_details: str | None
    examples: int | None
    tokens_per_epoch: int | None
    method: str | None = None  # the training method the file's format is for, once checked

    def status(self, now: float, processing_seconds: float) -> str:
        if self.purpose != TRAINING_PURPOSE:
            return "processed"
        age = now - self.created_at
        if age < processing_seconds / 2:
            return "pending"
        if age < processing_seconds or self.check_ok is None:
            return "running"
        return "processed" if self.check_ok else "error"

    def to_api(self, now: float, processing_seconds: float) -> dict[str, Any]:
        status = self.status(now, processing_seconds)
        body: dict[str, Any] = {
            "object": "file", "id": self.id, "bytes": self.bytes, "created_at": int(self.created_at),
            "filename": self.filename, "purpose": self.purpose, "status": status,
        }
        if status == "error":
            body["status_details"] = self.check_details
        return body


def _row(row: Any) -> FileRecord:
    return FileRecord(
        account=row["account"], id=row["id"], filename=row["filename"], purpose=row["purpose"], bytes=row["bytes"],
        created_at=row["created_at"], path=Path(row["path"]),
        check_ok=None if row["check_ok"] is None else bool(row["check_ok"]),
        check_details=row["check_details"], examples=row["examples"], tokens_per_epoch=row["tokens_per_epoch"],
        method=row["method"],
    )


def file_too_large() -> AzureError:
    return AzureError(413, "invalidPayload", f"The file is too large: the maximum size is {MAX_UPLOAD_BYTES // 2**20} MB.")


def file_not_found(file_id: str) -> AzureError:
    return AzureError(404, "notFound", f"File with id '{file_id}' not found.")


class FileStore:
    def __init__(self, db: Database, clock: Clock, config: EmulatorConfig) -> None:
        self.db, self.clock = db, clock
        self.processing_seconds = config.file_processing_seconds
        self.db.ensure_schema(SCHEMA)
        if not self.db.has_column("files", "method"):  # a data dir from before preference (DPO) files
            self.db.execute("ALTER TABLE files ADD COLUMN method TEXT")
        self._checks = ThreadPoolExecutor(max_workers=1, thread_name_prefix="aoai-ft-file-check")
        self._stop_checks = weakref.finalize(self, self._checks.shutdown, False)
        if config.data_dir is not None:
            self.root = Path(config.data_dir) / "files"
            self.root.mkdir(parents=True, exist_ok=True)
            self._remove_root: weakref.finalize | None = None
        else:  # in-memory emulator: files live in a temp dir, removed by close() (or with the store)
            self.root = Path(tempfile.mkdtemp(prefix="aoai-ft-emulator-"))
            self._remove_root = weakref.finalize(self, shutil.rmtree, self.root, True)
        self._pending: dict[str, threading.Event] = {}
        self._remove_leftovers()
        for row in self.db.query("SELECT id FROM files WHERE purpose=? AND check_ok IS NULL", (TRAINING_PURPOSE,)):
            self._schedule_check(row["id"])

    def close(self) -> None:
        """Let a running file check finish, drop queued ones, and remove an in-memory emulator's temp dir now, not
        whenever the store is garbage-collected (a process that ends without its exit handlers never would)."""
        self._stop_checks.detach()
        self._checks.shutdown(wait=True, cancel_futures=True)
        if self._remove_root is not None:
            self._remove_root()

    def _remove_leftovers(self) -> None:
        """Delete top-level files no row points at (an upload or result interrupted by a crash)."""
        known = {Path(row["path"]).name for row in self.db.query("SELECT path FROM files")}
        for entry in self.root.iterdir():
            if entry.is_file() and entry.name not in known:
                entry.unlink(missing_ok=True)

    # ---- reads -------------------------------------------------------------------------------------
    def get(self, account: str, file_id: str) -> FileRecord | None:
        row = self.db.query_one("SELECT * FROM files WHERE id=? AND lower(account)=lower(?)", (file_id, account))
        return _row(row) if row else None

    def require(self, account: str, file_id: str) -> FileRecord:
        record = self.get(account, file_id)
        if record is None:
            raise file_not_found(file_id)
        return record

    def list(self, account: str, purpose: str | None = None) -> list[FileRecord]:
        sql, params = "SELECT * FROM files WHERE lower(account)=lower(?)", [account]
        if purpose:
            sql += " AND purpose=?"
            params.append(purpose)
        return [_row(r) for r in self.db.query(sql + " ORDER BY created_at DESC, rowid DESC", tuple(params))]

    def to_api(self, record: FileRecord) -> dict[str, Any]:
        return record.to_api(self.clock.now(), self.processing_seconds)

    def status(self, record: FileRecord) -> str:
        return record.status(self.clock.now(), self.processing_seconds)

    def wait_for_check(self, file_id: str, timeout: float = 60.0) -> None:
        """Block until a pending check of `file_id` finished (tests and job creation on a just-uploaded file)."""
        event = self._pending.get(file_id)
        if event is not None:
            event.wait(timeout)

    # ---- writes ------------------------------------------------------------------------------------
    def add_stream(self, account: str, source: BinaryIO, filename: str, purpose: str) -> FileRecord:
        """Copy `source` into the store in chunks; over 512 MB -> 413 and nothing kept."""
        file_id = "file-" + secrets.token_hex(16)
        target = self.root / file_id
        partial = target.with_name(file_id + PARTIAL_SUFFIX)
        size = 0
        try:
            with open(partial, "wb") as out:
                while chunk := source.read(COPY_CHUNK):
                    size += len(chunk)
                    if size > MAX_UPLOAD_BYTES:
                        raise file_too_large()
                    out.write(chunk)
            os.replace(partial, target)
        except BaseException:
            partial.unlink(missing_ok=True)
            raise
        return self._insert(account, file_id, filename, purpose, size, target)

    def add_bytes(self, account: str, filename: str, purpose: str, data: bytes) -> FileRecord:
        file_id = "file-" + secrets.token_hex(16)
        target = self.root / file_id
        partial = target.with_name(file_id + PARTIAL_SUFFIX)
        partial.write_bytes(data)
        os.replace(partial, target)
        return self._insert(account, file_id, filename, purpose, len(data), target)

    def _insert(self, account: str, file_id: str, filename: str, purpose: str, size: int, path: Path) -> FileRecord:
        self.db.execute(
            "INSERT INTO files (account,id,filename,purpose,bytes,created_at,path) VALUES (?,?,?,?,?,?,?)",
            (account, file_id, filename, purpose, size, self.clock.now(), str(path)),
        )
        if purpose == TRAINING_PURPOSE:
            self._schedule_check(file_id)
        record = self.get(account, file_id)
        assert record is not None
        return record

    def delete(self, account: str, file_id: str) -> None:
        record = self.require(account, file_id)
        self.db.execute("DELETE FROM files WHERE id=?", (file_id,))
        record.path.unlink(missing_ok=True)

    def snapshot(self, record: FileRecord, name: str) -> Path:
        """A copy of a file that outlives it (a fine-tuned model keeps its training data); hard link if possible."""
        target = self.root / "models" / name
        target.parent.mkdir(parents=True, exist_ok=True)
        if not target.exists():
            try:
                os.link(record.path, target)
            except OSError:
                shutil.copyfile(record.path, target)
        return target

    def combine(self, sources: list[Path], name: str) -> Path:
        """One stored file holding `sources` one after another (a continued model's lineage of training data)."""
        target = self.root / "models" / name
        target.parent.mkdir(parents=True, exist_ok=True)
        partial = target.with_name(name + PARTIAL_SUFFIX)
        with open(partial, "wb") as out:
            for source in sources:
                with open(source, "rb") as data:
                    shutil.copyfileobj(data, out, COPY_CHUNK)
                out.write(b"\n")
        os.replace(partial, target)
        return target

    # ---- background check ----------------------------------------------------------------------------
    def _schedule_check(self, file_id: str) -> None:
        event = self._pending.setdefault(file_id, threading.Event())
        self._checks.submit(self._run_check, file_id, event)

    def _run_check(self, file_id: str, event: threading.Event) -> None:
        try:
            row = self.db.query_one("SELECT path FROM files WHERE id=?", (file_id,))
            if row is None:
                return
            result: DataCheck = check_training_file(Path(row["path"]))
            self.db.execute(
                "UPDATE files SET check_ok=?, check_details=?, examples=?, tokens_per_epoch=?, method=? WHERE id=?",
                (int(result.ok), result.details, result.examples, result.tokens_per_epoch, result.method, file_id),
            )
        except Exception as exc:  # keep the worker alive; the file ends in `error` like a failed import
            try:
                self.db.execute("UPDATE files SET check_ok=0, check_details=? WHERE id=?",
                                (f"File could not be processed: {exc}", file_id))
            except Exception:
                pass
        finally:
            event.set()
            self._pending.pop(file_id, None)

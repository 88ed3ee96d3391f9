"""Upload training/validation files once: the content hash is part of the uploaded filename.

`training_set.jsonl` is uploaded as `training_set.<sha12>.jsonl`; a later upload of the same bytes finds that
name with `files.list` and reuses the file instead of storing (and paying for processing of) a copy.
"""
from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

import openai
from openai.types import FileObject
from pydantic import BaseModel, ConfigDict

from pipeline.clients import service_errors
from pipeline.errors import PipelineError, ServiceError, UsageError
from pipeline.hashing import content_hash

HASH_CHARS = 12
_READY = "processed"
_FAILED = {"error", "deleted", "deleting"}
OnFileStatus = Callable[[FileObject], None]
"""Called with the file at every status check while waiting, so a caller can show which file it waits for."""


class UploadResult(BaseModel):
    """The service's file and whether an existing upload was reused."""

    model_config = ConfigDict(arbitrary_types_allowed=True)

    file: FileObject
    reused: bool


def uploaded_name(path: Path, sha256: str | None = None) -> str:
    """`training_set.jsonl` -> `training_set.<sha12>.jsonl`."""
    sha = (sha256 or content_hash(path))[:HASH_CHARS]
    return f"{path.stem}.{sha}{path.suffix}"


def find_uploaded(client: openai.AzureOpenAI, name: str, *, purpose: str = "fine-tune") -> FileObject | None:
    """The newest usable (not failed or deleted) file with this exact uploaded name."""
    with service_errors("listing files"):
        matches = [f for f in client.files.list(purpose=purpose) if f.filename == name and f.status not in _FAILED]
    return max(matches, key=lambda f: f.created_at, default=None)


def check_local_file(path: Path) -> None:
    """A readable regular file, or a `UsageError` that says what it is instead (missing, a directory, unreadable)."""
    if path.is_dir():
        raise UsageError(f"{path} is a directory", hint="pass the path of a .jsonl training or validation file")
    if not path.is_file():
        raise UsageError(f"no such file: {path}", hint="pass the path of a .jsonl training or validation file")
    try:
        with path.open("rb"):
            pass
    except OSError as exc:
        raise UsageError(f"cannot read {path}: {exc.strerror or exc}",
                         hint="check the file's permissions (or pass an uploaded file id, file-...)") from None


def upload_file(
    client: openai.AzureOpenAI,
    path: Path | str,
    *,
    purpose: str = "fine-tune",
    timeout: float = 1800,
    poll_interval: float = 2.0,
    on_status: OnFileStatus | None = None,
) -> UploadResult:
    """Upload `path` unless the same content is already there, then wait until the service has processed it;
    `on_status` sees the file at each check of that wait (processing takes seconds to minutes)."""
    path = Path(path)
    check_local_file(path)
    name = uploaded_name(path)
    existing = find_uploaded(client, name, purpose=purpose)
    if existing is not None:
        return UploadResult(file=wait_for_file(client, existing.id, timeout=timeout, poll_interval=poll_interval,
                                               on_status=on_status), reused=True)
    with service_errors(f"uploading {path}"), path.open("rb") as fh:
        created = client.files.create(file=(name, fh), purpose=purpose)  # type: ignore[arg-type]
    return UploadResult(file=wait_for_file(client, created.id, timeout=timeout, poll_interval=poll_interval,
                                           on_status=on_status), reused=False)


def upload_interrupted(path: Path | str, file_id: str | None) -> tuple[str, str]:
    """(message, hint) for Ctrl-C while `path` was uploaded or processed; `file_id` once the service has it."""
    if file_id is not None:
        message = f"{path} was uploaded as {file_id}; the service goes on processing it"
    else:
        message = f"{path} was being uploaded; if it reached the service, the service goes on processing it"
    return message, ("run the same command again: it reuses the file the service already holds instead of "
                     "uploading it twice")


def wait_for_file(client: openai.AzureOpenAI, file_id: str, *, timeout: float = 1800,
                  poll_interval: float = 2.0, on_status: OnFileStatus | None = None) -> FileObject:
    """Poll until `processed`; a file in `error` raises `ServiceError` with the service's `status_details`.

    Our own loop rather than the SDK's `files.wait_for_processing`, which reports nothing until it returns:
    `on_status` gets the file after every check."""
    deadline = time.monotonic() + timeout
    while True:
        with service_errors(f"checking file {file_id}"):
            file = client.files.retrieve(file_id)
        if on_status is not None:
            on_status(file)
        if file.status == _READY:
            return file
        if file.status in _FAILED:
            details = file.status_details or "no details given"
            raise ServiceError(
                f"file {file.filename} ({file.id}) was rejected by the service: {details}",
                hint="fix the file (`aoai-ft validate FILE` shows problems with line numbers) and upload it again",
            )
        if time.monotonic() >= deadline:
            raise PipelineError(
                f"file {file.id} is still '{file.status}' after {timeout:g} s",
                hint="the service keeps processing it; run the same command again later to pick it up",
            )
        time.sleep(min(poll_interval, max(deadline - time.monotonic(), 0.0)))


def delete_file(client: openai.AzureOpenAI, file_id: str) -> bool:
    """Delete an uploaded file; True if deleted, False if it was already gone (404)."""
    try:
        with service_errors(f"deleting file {file_id}"):
            client.files.delete(file_id)
    except ServiceError as exc:
        if isinstance(exc.__cause__, openai.NotFoundError):
            return False
        raise
    return True

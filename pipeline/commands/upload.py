"""`aoai-ft upload`: upload training/validation files once (same content = same file, no second upload)."""
from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from pipeline.commands._options import connection_options, console

if TYPE_CHECKING:
    from pipeline.files import UploadResult


def upload_showing_progress(out: Any, client: Any, path: Path, *, timeout: float, poll_interval: float) -> UploadResult:
    """Upload `path` (or reuse its earlier upload) and wait for the service to process it, with the progress display;
    Ctrl-C says what goes on in the service and how to pick it up (shared with `train`, which uploads local files)."""
    from pipeline.errors import on_ctrl_c
    from pipeline.files import upload_file, upload_interrupted
    from pipeline.progress import FileProgressDisplay

    with FileProgressDisplay(out, path) as show, on_ctrl_c(lambda: upload_interrupted(path, show.file_id)):
        return upload_file(client, path, timeout=timeout, poll_interval=poll_interval, on_status=show)


@click.command("upload")
@click.argument("train", type=click.Path(dir_okay=False, path_type=Path))
@click.argument("validation", required=False, type=click.Path(dir_okay=False, path_type=Path))
@click.option("--timeout", type=click.FloatRange(min=1), default=1800, show_default=True,
              help="Seconds to wait for the service to process each file.")
@click.option("--poll-interval", type=click.FloatRange(min=0.05), default=2.0, show_default=True, hidden=True,
              help="Seconds between checks of a file's processing status.")
@connection_options
def upload(train: Path, validation: Path | None, timeout: float, poll_interval: float, client_factory) -> None:
    """Upload TRAIN and optional VALIDATION (chat JSONL) and wait until they are processed.

    Files are stored as NAME.<sha256[:12]>.jsonl; uploading the same content again reuses the stored file.
    A file the service rejects stops with the service's message.

    \b
    Examples:
      aoai-ft upload datasets/training_set.jsonl datasets/validation_set.jsonl
      aoai-ft upload data.jsonl --endpoint http://127.0.0.1:8765 --api-key emulator-key
    """
    out = console()
    client = client_factory()
    for path in (p for p in (train, validation) if p is not None):
        result = upload_showing_progress(out, client, path, timeout=timeout, poll_interval=poll_interval)
        verb = "already uploaded" if result.reused else "uploaded"
        out.print(f"{path}: {verb} as [bold]{result.file.id}[/] ({result.file.filename}, {result.file.status})")

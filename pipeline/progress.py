"""Show progress while the service works (a job training, a file being processed): live on a terminal, one plain
line per change elsewhere (CI logs, pipes)."""
from __future__ import annotations

import time
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING

from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, Progress, SpinnerColumn, TextColumn

from pipeline.jobs import JobProgress

if TYPE_CHECKING:
    from openai.types import FileObject
    from rich.status import Status


def format_duration(seconds: float | None) -> str:
    """`3725` -> `1h02m05s`; None -> `?`."""
    if seconds is None:
        return "?"
    seconds = int(round(seconds))
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}h{minutes:02d}m{secs:02d}s" if hours else f"{minutes}m{secs:02d}s"


def describe(p: JobProgress) -> str:
    """One line: status, step, losses, elapsed, remaining."""
    parts = [p.status]
    if p.step is not None:
        parts.append(f"step {p.step:,}/{p.total_steps:,}" if p.total_steps else f"step {p.step:,}")
    if p.train_loss is not None:
        parts.append(f"train_loss {p.train_loss:.4f}")
    if p.valid_loss is not None:
        parts.append(f"valid_loss {p.valid_loss:.4f}")
    if p.reward_accuracy is not None:
        parts.append(f"reward_accuracy {p.reward_accuracy:.2f}")
    parts.append(f"elapsed {format_duration(p.elapsed)}")
    if p.remaining is not None:
        parts.append(f"remaining ~{format_duration(p.remaining)}")
    if p.note:
        parts.append(p.note)
    return " | ".join(parts)


class JobProgressDisplay:
    """`with JobProgressDisplay(console) as show: wait_for_job(..., on_update=show)`."""

    def __init__(self, console: Console | None = None, *, title: str = "fine-tuning") -> None:
        if console is None:
            from pipeline.commands._options import console as make_console

            console = make_console()
        self.console = console
        self.title = title
        self._live = self.console.is_terminal
        self._progress: Progress | None = None
        self._task: int | None = None
        self._last_key: tuple[object, ...] | None = None

    def __enter__(self) -> "JobProgressDisplay":
        if self._live:
            self._progress = Progress(
                SpinnerColumn(), TextColumn("[bold]{task.description}"), BarColumn(),
                TextColumn("{task.fields[detail]}"), console=self.console, transient=False,
            )
            self._progress.start()
            self._task = self._progress.add_task(self.title, total=None, detail="starting")
        return self

    def __call__(self, p: JobProgress) -> None:
        line = describe(p)
        if self._progress is not None and self._task is not None:
            self._progress.update(self._task, description=f"{self.title} {p.job_id}", detail=line,
                                  completed=p.step or 0, total=p.total_steps)
            return
        key = (p.status, p.step, p.note)  # plain output: a line only when something changed
        if key != self._last_key:
            self.console.print(f"{p.job_id}: {line}", highlight=False, soft_wrap=True)
            self._last_key = key

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        if self._progress is not None:
            self._progress.stop()


class FileProgressDisplay:
    """`with FileProgressDisplay(console, path) as show: upload_file(..., on_status=show)`.

    Processing an upload takes from seconds to minutes; without this the command is silent meanwhile. On a
    terminal a spinner names the file id, its status and the time waited; elsewhere one line per status change
    (the command's own closing line reports `processed`)."""

    def __init__(self, console: Console, path: Path | str) -> None:
        self.console, self.path = console, path
        self._status: Status | None = None
        self._started = time.monotonic()
        self._last: tuple[str, str] | None = None
        self.file_id: str | None = None  # once the service holds the file (what Ctrl-C leaves behind)

    def __enter__(self) -> "FileProgressDisplay":
        if self.console.is_terminal:
            self._status = self.console.status(f"uploading {escape(str(self.path))} ...")
            self._status.start()
        return self

    def __call__(self, file: "FileObject") -> None:
        self.file_id = file.id
        if file.status == "processed":  # done waiting: the command's closing line says so
            return
        text = escape(f"{self.path}: {file.id} is {file.status}, waiting for the service to process it")
        if self._status is not None:
            self._status.update(f"{text} ({format_duration(time.monotonic() - self._started)})")
        elif (file.id, file.status) != self._last:
            self.console.print(text, highlight=False, soft_wrap=True)
        self._last = (file.id, file.status)

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        if self._status is not None:
            self._status.stop()

"""Domain errors. Each is a click exception that knows its exit code and how to show itself (message, hint), so
click turns it into a clean message wherever a command raises it - the CLI, click's CliRunner in tests - and
library code raises these instead of printing or exiting. Outside the CLI they are ordinary exceptions."""
from __future__ import annotations

import errno
import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

import click

if TYPE_CHECKING:
    from pydantic import ValidationError


class PipelineError(click.ClickException):
    """A failure the user can act on. `hint` says how to fix it."""

    exit_code = 1

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def show(self, file: IO[Any] | None = None) -> None:
        """`Error: <message>` and `  hint: <hint>` on stderr; a deliberate Ctrl-C as what happened and how to go on."""
        if self.interrupted:
            click.secho(f"Stopped waiting (Ctrl-C): {self.message}.", fg="yellow", err=True, file=file)
            if self.hint:
                click.echo(f"  to go on: {self.hint}", err=True, file=file)
            return
        click.secho(f"Error: {self.message}", fg="red", err=True, file=file)
        if self.hint:
            click.echo(f"  hint: {self.hint}", err=True, file=file)

    def __str__(self) -> str:
        return self.message if not self.hint else f"{self.message}\n  hint: {self.hint}"

    @property
    def interrupted(self) -> bool:
        """The user stopped us with Ctrl-C (exit code 130, as the shell reports SIGINT): said as what happened
        and how to go on, not as an error."""
        return self.exit_code == 130


class Interrupted(PipelineError):
    """Ctrl-C stopped the command while the service worked for it: `message` says what goes on in the service
    (or that nothing does), `hint` how to pick it up again or clean it up. Shown as a stop, not an error."""

    exit_code = 130


@contextmanager
def on_ctrl_c(explain: Callable[[], tuple[str, str]]) -> Iterator[None]:
    """Turn Ctrl-C inside the block into an `Interrupted` with `explain()`'s (message, hint), instead of click's
    bare "Aborted.": `explain` is called only then, so it can say how far the work had got."""
    try:
        yield
    except KeyboardInterrupt:
        message, hint = explain()
        raise Interrupted(message, hint=hint) from None


class UsageError(PipelineError):
    """Bad arguments or a missing input file (exit code 2, like click's own usage errors)."""

    exit_code = 2


def first_problem(exc: ValidationError) -> str:
    """pydantic's first error as one line, `field.path: message` (without its "Value error, " prefix): what a user
    needs to fix, instead of the multi-line dump with a link."""
    first = exc.errors(include_url=False)[0]
    where = ".".join(str(part) for part in first["loc"])
    message = str(first["msg"]).removeprefix("Value error, ")
    return f"{where}: {message}" if where and not message.startswith(where) else message


def not_utf8(name: str, exc: UnicodeDecodeError, *, hint: str) -> UsageError:
    """The error for an input that is not UTF-8 text (a binary file, or UTF-16 as Windows PowerShell's `>` writes)."""
    return UsageError(f"{name} is not UTF-8 text (it holds the byte {exc.object[exc.start:exc.start + 1]!r})", hint=hint)


@contextmanager
def writing(path: Path | str, *, option: str) -> Iterator[None]:
    """An output the user named with `option` that cannot be written (its parent is a file, a directory is missing
    and cannot be made, no permission) becomes a `UsageError` naming the path, instead of a traceback."""
    try:
        yield
    except OSError as exc:
        reason = exc.strerror or str(exc)
        if exc.errno in (errno.EEXIST, errno.ENOTDIR):  # which part of the path is a file: say that one
            failed = Path(exc.filename if exc.filename is not None else path)
            blocker = next((p for p in (failed, *failed.parents) if p.exists() or p.is_symlink()), None)
            if blocker is not None and not blocker.is_dir():
                reason = f"{blocker} is a file, not a directory"
        raise UsageError(f"cannot write {path}: {reason}",
                         hint=f"pass {option} a path in a directory you can write to") from None


def check_output(path: Path | str, *, option: str, directory: bool = False) -> Path:
    """Fail now, before any work that costs time or money and without leaving anything behind, when an output (a
    file, or a directory when `directory`) cannot be written: the nearest existing part of its path must be a
    directory in which something can be made. Making (and removing) an empty directory there is the test, since
    permission bits do not tell (root may write anywhere, yet not in /proc). The write itself still goes through
    `writing`."""
    import tempfile

    path = Path(path)
    target = path if directory else path.parent
    with writing(path, option=option):
        existing = next(p for p in (target, *target.parents) if p.exists() or p.is_symlink())
        if not existing.is_dir():
            raise NotADirectoryError(errno.ENOTDIR, os.strerror(errno.ENOTDIR), str(existing))
        try:
            os.rmdir(tempfile.mkdtemp(prefix=".aoai-ft-check-", dir=existing))
        except OSError as exc:
            raise PermissionError(errno.EACCES, f"nothing can be created in {existing} ({exc.strerror or exc})",
                                  str(existing)) from None
    return path


class DatasetInvalid(PipelineError):
    """The dataset has errors; `report` carries the full validation report."""

    def __init__(self, message: str, *, report: object = None, hint: str | None = None) -> None:
        super().__init__(message, hint=hint)
        self.report = report


class TokenizerUnavailable(PipelineError):
    """A tokenizer vocabulary is missing or fails its hash check."""


class ServiceError(PipelineError):
    """The Azure OpenAI or ARM service refused or failed a request."""


class BudgetExceeded(PipelineError):
    """The estimated training cost is over the configured maximum."""

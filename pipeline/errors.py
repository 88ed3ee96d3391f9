"""Domain errors. Each is a click exception that knows its exit code and how to show itself (message, hint), so
click turns it into a clean message wherever a command raises it - the CLI, click's CliRunner in tests - and
library code raises these instead of printing or exiting. Outside the CLI they are ordinary exceptions."""
from __future__ import annotations

from typing import IO, Any

import click


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
                click.echo(f"  to resume: {self.hint}", err=True, file=file)
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


class UsageError(PipelineError):
    """Bad arguments or a missing input file (exit code 2, like click's own usage errors)."""

    exit_code = 2


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

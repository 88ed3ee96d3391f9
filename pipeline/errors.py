"""Domain errors. The CLI turns every `PipelineError` into a clean message and exit code in one place
(`pipeline.cli`), so library code raises these instead of printing or exiting."""
from __future__ import annotations


class PipelineError(Exception):
    """A failure the user can act on. `hint` says how to fix it."""

    exit_code = 1

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

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

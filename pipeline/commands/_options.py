"""Options shared by the commands that talk to the service (connection settings, the ARM target), and the one
console factory every command prints through.

Settings are built here, at the edge; the library below takes explicit values only.
"""
from __future__ import annotations

import functools
import logging
import os
from collections.abc import Callable
from typing import Any

import click
from rich.console import Console

from pipeline import envnames


SDK_RETRY_LOGGER = "openai._base_client"  # logs "Retrying request in %f seconds (retry %i of %s)" at INFO


class _RetryNotes(logging.Handler):
    """One stderr line per SDK retry, so a slow failure (unreachable endpoint, throttling) is not silence."""

    def emit(self, record: logging.LogRecord) -> None:
        if record.getMessage().startswith("Retrying request in") and len(record.args or ()) == 3:
            delay, attempt, total = record.args  # type: ignore[misc]
            click.echo(f"  no answer yet; retry {attempt} of {total} in {float(delay):.1f} s ...", err=True)


def announce_retries() -> None:
    """Install the retry notes once (idempotent), and keep azure-identity's multi-line warnings (every
    credential it tried) off the terminal: a failed sign-in becomes one `Error:` line with a hint instead."""
    logging.getLogger("azure.identity").setLevel(logging.ERROR)
    logger = logging.getLogger(SDK_RETRY_LOGGER)
    if not any(isinstance(h, _RetryNotes) for h in logger.handlers):
        logger.addHandler(_RetryNotes(level=logging.INFO))
    if logger.getEffectiveLevel() > logging.INFO:
        logger.setLevel(logging.INFO)


def connection_options(func: Callable[..., Any]) -> Callable[..., Any]:
    """--endpoint / --api-key / --api-version (env defaults) and --max-retries; passes `client_factory`."""

    @click.option("--endpoint", envvar=envnames.AZURE_OPENAI_ENDPOINT, show_envvar=True, metavar="URL",
                  help="Azure OpenAI endpoint, e.g. https://NAME.openai.azure.com/ (or the emulator's URL).")
    @click.option("--api-key", envvar=envnames.AZURE_OPENAI_API_KEY, show_envvar=True, metavar="KEY",
                  help="API key; leave unset to sign in with Entra ID (az login / managed identity).")
    @click.option("--api-version", envvar=envnames.OPENAI_API_VERSION, show_envvar=True, default=None,
                  metavar="VERSION", help="Data-plane api-version (default 2024-10-21).")
    @click.option("--max-retries", type=click.IntRange(0, 20), default=5, show_default=True,
                  help="SDK retries for 408/409/429/5xx and connection errors (honours Retry-After).")
    @functools.wraps(func)
    def wrapper(*args: Any, endpoint: str | None, api_key: str | None, api_version: str | None,
                max_retries: int, **kwargs: Any) -> Any:
        def client_factory():  # lazy: `--help` and usage errors never build a client
            from pipeline.clients import ConnectionSettings, openai_client  # openai only when a command needs it

            announce_retries()
            settings = ConnectionSettings.from_env(
                {}, endpoint=endpoint, api_key=api_key, api_version=api_version, max_retries=max_retries)
            return openai_client(settings)

        return func(*args, client_factory=client_factory, **kwargs)

    return wrapper


def job_id_given(ctx: click.Context, param: click.Parameter, value: str | None) -> str | None:
    """A click callback for a JOB_ID argument: an empty or blank id (an unset variable, as in
    `aoai-ft status "$FINE_TUNING_JOB_ID"`) is a usage error, never a request."""
    if value is not None and not value.strip():
        raise click.BadParameter(
            f"the job id is empty; pass a fine-tuning job id (ftjob-...): `aoai-ft status` lists them, and "
            f"`eval \"$(aoai-ft train ... --export)\"` sets {envnames.FINE_TUNING_JOB_ID}")
    return value


def arm_account_options(func: Callable[..., Any]) -> Callable[..., Any]:
    """--subscription / --resource-group / --account (env defaults, as the stack exports them) and --arm-endpoint:
    which account's ARM resources a command works on. Passed through as keyword arguments."""
    options = [
        click.option("--subscription", envvar=envnames.AZURE_SUBSCRIPTION_ID, show_envvar=True, required=True,
                     metavar="ID", help="Azure subscription id."),
        click.option("--resource-group", envvar=envnames.AZURE_RESOURCE_GROUP, show_envvar=True, required=True,
                     metavar="NAME", help="Resource group of the Azure OpenAI account."),
        click.option("--account", envvar=envnames.AZURE_OPENAI_RESOURCE_NAME, show_envvar=True, required=True,
                     metavar="NAME", help="Azure OpenAI account (resource) name."),
        click.option("--arm-endpoint", envvar=envnames.AZURE_RESOURCE_MANAGER_ENDPOINT, show_envvar=True,
                     metavar="URL",
                     help="ARM base URL (default https://management.azure.com; the emulator's URL for local runs)."),
    ]
    for option in reversed(options):
        func = option(func)
    return func


WIDE_COLUMNS = 200  # tables off a terminal: wide enough that ids, model names and URLs are not cut


def output_width(stderr: bool = False) -> int | None:
    """The one width rule: None (the terminal's own width) on a terminal; otherwise `$COLUMNS` when it is set
    to a number, else `WIDE_COLUMNS` - rich would assume 80 columns and cut tables in CI logs and pipes."""
    if Console(stderr=stderr).is_terminal:
        return None
    columns = os.environ.get("COLUMNS", "").strip()
    return int(columns) if columns.isdigit() and int(columns) > 0 else WIDE_COLUMNS


def console(stderr: bool = False) -> Console:
    """The rich console every command prints through, on stdout (or stderr) as it is at print time, so click's
    CliRunner captures it. Width follows `output_width`; text lines are never broken (soft wrap), so a URL, a
    key or a path can be copied from a log in one piece, whatever the width."""
    return Console(stderr=stderr, width=output_width(stderr), highlight=False, soft_wrap=True)

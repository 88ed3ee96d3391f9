"""The `aoai-ft` command line.

Commands live in `pipeline/commands/<name>.py` and are imported only when used, so `aoai-ft validate` does
not pay for importing the emulator or the Azure SDKs. Domain errors (`PipelineError`) are click exceptions that show
themselves (message, hint, exit code); `main()` adds what click's standalone mode does not: SDK failures no command
mapped still end as one line, never a traceback.
"""
from __future__ import annotations

import atexit
import gc
import importlib
import logging
import sys

import click


# name -> (module, attribute, one-line help shown in `aoai-ft --help` without importing the module)
COMMANDS: dict[str, tuple[str, str, str]] = {
    "validate": ("pipeline.commands.validate", "validate", "Check chat fine-tuning JSONL files: problems, token stats, cost."),
    "estimate": ("pipeline.commands.estimate", "estimate", "Estimate the training cost of a dataset."),
    "upload": ("pipeline.commands.upload", "upload", "Upload training/validation files (skips ones already uploaded)."),
    "train": ("pipeline.commands.train", "train", "Start or adopt a fine-tuning job and follow it to the end."),
    "status": ("pipeline.commands.status", "status", "Show a fine-tuning job's status, events and checkpoints."),
    "deploy": ("pipeline.commands.deploy", "deploy", "Deploy a fine-tuned model through Azure Resource Manager."),
    "chat": ("pipeline.commands.chat", "chat", "Ask a deployment the lab's smoke-test question (or your own)."),
    "eval": ("pipeline.commands.eval", "eval_command", "Evaluate deployments on a held-out set, side by side."),
    "report": ("pipeline.commands.report", "report", "Loss curves PNG, final metrics, base vs fine-tuned answers."),
    "env": ("pipeline.commands.env", "env", "Print export lines or write a .env from a stack's outputs."),
    "promote": ("pipeline.commands.promote", "promote", "Promote a trained model from one stack to another."),
    "sweep": ("pipeline.commands.sweep", "sweep", "Delete deployments whose TTL tag has expired."),
    "emulator": ("pipeline.commands.emulator", "emulator", "Run the local Azure OpenAI + ARM emulator."),
    "demo": ("pipeline.commands.demo", "demo", "Run the whole flow offline against the emulator."),
}


class LazyGroup(click.Group):
    """A click group whose subcommands are imported on first use."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return list(COMMANDS)

    def get_command(self, ctx: click.Context, name: str) -> click.Command | None:
        if name not in COMMANDS:
            return None
        module_name, attr, _ = COMMANDS[name]
        try:
            module = importlib.import_module(module_name)
        except ModuleNotFoundError as exc:
            if exc.name == module_name:
                return None
            raise
        return getattr(module, attr)

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        with formatter.section("Commands"):
            formatter.write_dl([(name, help_) for name, (_, _, help_) in COMMANDS.items()])


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="aoai-finetune")
def cli() -> None:
    """Fine-tune, deploy and test Azure OpenAI models, one step at a time.

    \b
    Examples:
      aoai-ft validate datasets/training_set.jsonl datasets/validation_set.jsonl
      aoai-ft demo
    """


def main(argv: list[str] | None = None) -> None:
    """Run the CLI; domain errors become a message and an exit code here, and only here."""
    # The Azure SDKs log retries and credential probes as multi-line warnings; failures reach the user as one
    # `Error:` line instead.
    logging.getLogger("azure").setLevel(logging.ERROR)
    _skip_last_collections()
    try:
        # With standalone_mode=False click returns ctx.exit()'s code instead of raising: keep it.
        result = cli.main(args=argv, prog_name="aoai-ft", standalone_mode=False)
    except click.exceptions.Exit as exc:
        sys.exit(exc.exit_code)
    except click.ClickException as exc:  # click's own usage errors and every PipelineError (they show themselves)
        exc.show()
        sys.exit(exc.exit_code)
    except click.exceptions.Abort:
        click.echo("Aborted.", err=True)
        sys.exit(130)
    except Exception as exc:
        if not _is_sdk_error(exc):
            raise
        # Last line of defence: an SDK failure a command did not map still ends as one line, not a traceback.
        detail = next((line.strip() for line in str(exc).splitlines() if line.strip()), type(exc).__name__)
        click.secho(f"Error: {type(exc).__name__}: {detail}", fg="red", err=True)
        click.echo("  hint: the service or the connection failed in an unexpected way; retry, and check the "
                   "endpoint and your credentials", err=True)
        sys.exit(1)
    sys.exit(result if isinstance(result, int) else 0)


def _skip_last_collections() -> None:
    """At exit, freeze every object, so the interpreter's last garbage collections pass over none of them: after
    `aoai-ft validate` has printed its report they took ~15 ms on their own, with nothing else to run on the cores.
    What they would have collected is freed with the process (Python does not promise `__del__` at exit)."""
    atexit.unregister(gc.freeze)  # once, however often main() runs in one process (tests)
    atexit.register(gc.freeze)


def _is_sdk_error(exc: BaseException) -> bool:
    """Errors raised by the service SDKs (openai, azure-core/identity/mgmt) or their HTTP stacks."""
    module = type(exc).__module__ or ""
    return module.split(".")[0] in {"openai", "azure", "httpx", "httpx2", "httpcore", "requests", "urllib3", "msrest"}

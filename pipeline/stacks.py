"""The Pulumi stacks `aoai-ft promote` reads and configures, through the Automation API (`pulumi.automation`).

The Automation API drives the installed Pulumi CLI with typed results (outputs with their secret flags) and
typed errors (stack not found, CLI missing or too old), which this module turns into the CLI's own errors.
It never selects a stack (that would change which stack the user's next `pulumi up` targets): every call
names its stack. Only this module imports Pulumi, and only when a command needs it; the Pulumi program
itself lives in `infra/`.
"""
from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from pipeline.errors import ServiceError, UsageError

if TYPE_CHECKING:
    from pulumi.automation import CommandError, LocalWorkspace

    from pipeline.promotion import ConfigRecipe


def workspace(cwd: Path | None = None) -> "LocalWorkspace":
    """A workspace on the project directory (`cwd`, default the current one), checking the CLI once."""
    from pulumi.automation import InvalidVersionError, LocalWorkspace

    try:
        return LocalWorkspace(work_dir=str(cwd or Path.cwd()))
    except FileNotFoundError:
        raise UsageError("pulumi is not installed",
                         hint="install the Pulumi CLI (https://www.pulumi.com/docs/install/), or pass --from-json "
                              "FILE with `pulumi stack output --json` and run the printed commands yourself") from None
    except InvalidVersionError as exc:
        raise UsageError(f"this Pulumi CLI cannot be driven: {exc}", hint="upgrade the Pulumi CLI") from None


def _cli_message(exc: "CommandError") -> str:
    """What the CLI said on stderr (the Automation API keeps it inside the exception's text)."""
    text = str(exc)
    said = text.split("stderr:", 1)[1] if "stderr:" in text else text
    return " ".join(said.split()) or text.strip()


def read_stack_outputs(stack: str, *, cwd: Path | None = None) -> dict[str, Any]:
    """The stack's outputs as plain values, without its secret ones (promotion needs none, and they must not be
    written to a ledger or a terminal)."""
    from pulumi.automation import CommandError, StackNotFoundError

    try:
        outputs = workspace(cwd).stack_outputs(stack)
    except StackNotFoundError as exc:
        raise ServiceError(f"cannot read stack {stack}: {_cli_message(exc)}",
                           hint="run it from the project directory (or pass --cwd), after `pulumi up -s "
                                f"{stack}`; `pulumi stack ls` lists the stacks") from None
    except CommandError as exc:
        raise ServiceError(f"cannot read the outputs of stack {stack}: {_cli_message(exc)}",
                           hint="check `pulumi stack output --json -s " + stack + "` works here") from None
    return {key: output.value for key, output in outputs.items() if not output.secret}


def apply_recipe(recipe: "ConfigRecipe") -> None:
    """Set the recipe's values: on the stack in one `pulumi config set-all` (all or nothing), or in its ESC
    environment (`pulumi env set`, one value at a time, which the Automation API has no call for)."""
    from pulumi.automation import CommandError, ConfigValue, StackNotFoundError

    ws = workspace(recipe.cwd)
    try:
        if recipe.esc_environment:
            for command in recipe.commands():
                ws.pulumi_command.run(command[1:], ws.work_dir, {})
        else:
            ws.set_all_config(recipe.stack, {key: ConfigValue(value) for key, value in recipe.qualified_values()})
    except StackNotFoundError as exc:
        raise ServiceError(f"cannot configure stack {recipe.stack}: {_cli_message(exc)}",
                           hint=f"create it first (`pulumi stack init {recipe.stack}`), then promote again") from None
    except CommandError as exc:
        where = f"ESC environment {recipe.esc_environment}" if recipe.esc_environment else f"stack {recipe.stack}"
        hint = (f"check that environment {recipe.esc_environment} exists (`pulumi env init {recipe.esc_environment}`)"
                if recipe.esc_environment else f"check that stack {recipe.stack} exists (`pulumi stack ls`)")
        raise ServiceError(f"cannot configure {where}: {_cli_message(exc)}", hint=hint) from None

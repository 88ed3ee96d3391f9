"""`aoai-ft env`: print shell export lines or write a .env from a Pulumi stack's outputs (replaces `setx`)."""
from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import click

from pipeline import envnames
from pipeline.envfile import SHELLS

PULUMI_INSTALL = "https://www.pulumi.com/docs/install/"


def _pulumi_outputs(stack: str | None, cwd: Path | None) -> str:
    from pipeline.errors import ServiceError

    command = ["pulumi", "stack", "output", "--json", "--show-secrets"]
    if stack:
        command += ["--stack", stack]
    if cwd:
        command += ["--cwd", str(cwd)]
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise ServiceError(f"`{' '.join(command)}` failed: {done.stderr.strip() or done.stdout.strip()}",
                           hint="run it from the project directory after `pulumi up`, or pass --stack / --cwd")
    return done.stdout


@click.command("env")
@click.option("--from-json", "from_json", type=click.File("r"), metavar="FILE",
              help="Read outputs from FILE ('-' = stdin) instead of running `pulumi stack output`.")
@click.option("--stack", "-s", metavar="NAME", help="Pulumi stack (default: the selected one).")
@click.option("--cwd", type=click.Path(file_okay=False, path_type=Path), help="Pulumi project directory.")
@click.option("--shell", type=click.Choice(SHELLS), default="sh", show_default=True,
              help="Syntax of the printed lines (powershell replaces the lab's `setx`).")
@click.option("--write", "dotenv", type=click.Path(dir_okay=False, path_type=Path), metavar="PATH",
              help="Write a .env file (mode 600) instead of printing.")
@click.option("--show-secrets", is_flag=True, help="Include secret outputs (the API key).")
def env(from_json, stack: str | None, cwd: Path | None, shell: str, dotenv: Path | None, show_secrets: bool) -> None:
    """Turn the stack's outputs (AZURE_OPENAI_ENDPOINT, ...) into environment variables.

    Runs `pulumi stack output --json --show-secrets` when pulumi is installed; otherwise pass --from-json or
    pipe the JSON on stdin. The API key is included only with --show-secrets.

    \b
    Examples:
      eval "$(aoai-ft env --show-secrets)"
      aoai-ft env --shell powershell --show-secrets | Invoke-Expression
      pulumi stack output --json --show-secrets | aoai-ft env --from-json - --write .env --show-secrets
    """
    from pipeline.envfile import format_exports, outputs_to_env, parse_outputs_json, read_outputs_file, write_dotenv
    from pipeline.errors import PipelineError, UsageError, writing

    how = (f"pipe the stack's outputs in (`pulumi stack output --json --show-secrets | aoai-ft env` on a machine "
           f"with Pulumi), pass a saved copy with --from-json FILE, or install the Pulumi CLI: {PULUMI_INSTALL}")
    if from_json is not None:
        text, source = read_outputs_file(from_json), from_json.name
    elif shutil.which("pulumi"):
        text, source = _pulumi_outputs(stack, cwd), "pulumi stack output"
    elif not sys.stdin.isatty():
        text, source = sys.stdin.read(), "stdin"
        if not text.strip():  # e.g. run from a script or CI step with nothing piped in
            raise UsageError("the Pulumi CLI is not installed and nothing came on stdin", hint=how)
    else:
        raise UsageError("the Pulumi CLI is not installed and no outputs were given", hint=how)
    outputs = parse_outputs_json(text, source=source)
    values = outputs_to_env(outputs, include_secrets=show_secrets)
    left_out = [] if show_secrets else sorted(k for k in envnames.SECRET_OUTPUTS if outputs.get(k) is not None)
    if not values and left_out:
        raise UsageError(f"the only output in {source} is the secret {', '.join(left_out)}",
                         hint="add --show-secrets to include it")
    if not values:
        what = "no stack outputs" if not outputs else "no outputs named like environment variables"
        hint = ("run `pulumi up` first (a new stack has no outputs), or pick another stack with --stack"
                if source == "pulumi stack output" else
                "give the output of `pulumi stack output --json --show-secrets` for a stack after `pulumi up`")
        raise PipelineError(f"{source} has {what}", hint=hint)
    if left_out:
        click.echo(f"note: left out the secret {', '.join(left_out)}; add --show-secrets to include it", err=True)
    if dotenv is not None:
        with writing(dotenv, option="--write"):
            write_dotenv(values, dotenv)
        click.echo(f"wrote {len(values):,} variables to {dotenv}", err=True)
    else:
        click.echo(format_exports(values, shell), nl=False)

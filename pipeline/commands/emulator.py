"""`aoai-ft emulator`: run the local Azure OpenAI + ARM emulator in the foreground until Ctrl-C."""
from __future__ import annotations

import json
import logging
import sys
from pathlib import Path
from typing import TYPE_CHECKING

import click
from pydantic import ValidationError

from pipeline import envnames
from pipeline.envfile import format_exports
from pipeline.errors import UsageError, check_output, first_problem

if TYPE_CHECKING:
    from pipeline.emulator.config import EmulatorConfig, FaultRule


def parse_fault(text: str) -> "FaultRule":
    """`route=/chat,kind=429,rate=0.5[,seconds=2][,count=3][,methods=POST]` or the same as a JSON object."""
    from pipeline.emulator.config import FaultRule

    text = text.strip()
    try:
        if text.startswith("{"):
            data = json.loads(text)
        else:
            data = {}
            for part in filter(None, (p.strip() for p in text.split(","))):
                key, sep, value = part.partition("=")
                if not sep:
                    raise ValueError(f"{part!r} is not key=value")
                data[key.strip()] = value.strip()
            if "methods" in data:
                data["methods"] = data["methods"].split("|")
        return FaultRule.model_validate(data)
    except ValidationError as exc:
        raise UsageError(
            f"invalid --fault {text!r}: {first_problem(exc)}",
            hint="e.g. --fault route=/chat,kind=429,rate=0.5,seconds=1 (kinds: latency, 429, 500, drop) "
                 "or a JSON object with the same keys",
        ) from None
    except ValueError as exc:
        raise UsageError(
            f"invalid --fault {text!r}: {exc}",
            hint="e.g. --fault route=/chat,kind=429,rate=0.5,seconds=1 (kinds: latency, 429, 500, drop) "
                 "or a JSON object with the same keys",
        ) from None


def emulator_env(config: "EmulatorConfig", url: str) -> dict[str, str]:
    """What a shell needs to point every command at this emulator's default account, named like the stack's
    outputs (so `aoai-ft env` after `pulumi up` and this block set the same variables)."""
    return {
        envnames.AZURE_OPENAI_ENDPOINT: f"{url}/",
        envnames.AZURE_OPENAI_API_KEY: config.api_key,
        envnames.AZURE_RESOURCE_MANAGER_ENDPOINT: url,
        envnames.AZURE_RESOURCE_MANAGER_TOKEN: config.arm_token or "emulator",
        envnames.AZURE_SUBSCRIPTION_ID: config.subscription_id,
        envnames.AZURE_RESOURCE_GROUP: config.default_resource_group,
        envnames.AZURE_OPENAI_RESOURCE_NAME: config.default_account,
    }


@click.command("emulator")
@click.option("--host", default="127.0.0.1", show_default=True, help="Interface to bind (loopback by default).")
@click.option("--port", default=8765, show_default=True, type=click.IntRange(0, 65535), help="Port (0 = any free port).")
@click.option("--api-key", default="emulator-key", show_default=True, help="key1 of the default account.")
@click.option("--data-dir", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="Keep state (sqlite + files) here so a restart continues; default: in memory.")
@click.option("--training-seconds", default=20.0, show_default=True, type=click.FloatRange(min=0, min_open=True),
              help="Simulated duration of a fine-tuning job.")
@click.option("--file-processing-seconds", default=0.5, show_default=True, type=click.FloatRange(min=0),
              help="How long an uploaded training file stays in processing (at least until its content is checked).")
@click.option("--deployment-seconds", default=1.0, show_default=True, type=click.FloatRange(min=0),
              help="How long a deployment takes to provision.")
@click.option("--eval-run-seconds", default=2.0, show_default=True, type=click.FloatRange(min=0),
              help="How long an evaluation run takes.")
@click.option("--fault", "faults", multiple=True, metavar="RULE",
              help="Inject faults: route=REGEX,kind=latency|429|500|drop,rate=P[,seconds=S][,count=N]. Repeatable.")
@click.option("--arm-token", default=None, metavar="TOKEN",
              help="Bearer token the ARM plane requires; default: any non-empty token.")
@click.option("--quiet", is_flag=True, help="Do not log each request.")
def emulator(host: str, port: int, api_key: str, data_dir: Path | None, training_seconds: float,
             file_processing_seconds: float, deployment_seconds: float, eval_run_seconds: float,
             faults: tuple[str, ...], arm_token: str | None, quiet: bool) -> None:
    """Run a local Azure OpenAI account (data plane) plus the ARM slice the project uses.

    \b
    Examples:
      aoai-ft emulator
      aoai-ft emulator --data-dir .emulator --training-seconds 60
      aoai-ft emulator --training-seconds 2 --deployment-seconds 0.2 --eval-run-seconds 0.5
      aoai-ft emulator --fault route=/chat,kind=429,rate=0.5,seconds=1
    """
    from pipeline.emulator.config import EmulatorConfig
    from pipeline.emulator.server import free_port, http_url, netloc, serve_forever

    rules = [parse_fault(f) for f in faults]
    if data_dir is not None:
        check_output(data_dir, option="--data-dir", directory=True)
    try:  # before anything starts: a host that does not resolve, a port in use (another emulator on 8765?)
        port = free_port(host, port)
    except OSError as exc:
        raise UsageError(f"cannot listen on {netloc(host, port)}: {exc.strerror or exc}",
                         hint="pick another --port (0 = any free port), stop what uses this one (another "
                              "`aoai-ft emulator`?), or check --host") from None
    config = EmulatorConfig(host=host, port=port, api_key=api_key, data_dir=data_dir,
                            training_seconds=training_seconds, file_processing_seconds=file_processing_seconds,
                            deployment_seconds=deployment_seconds, eval_run_seconds=eval_run_seconds,
                            faults=rules, arm_token=arm_token,
                            log_requests=not quiet)
    from pipeline.commands._options import console as make_console  # the output rule every command follows
    console = make_console(stderr=True)
    # Plain lines, not rich's: a RichHandler record costs about a millisecond, which capped the emulator at
    # ~1,000 requests/s while it logged each one; a formatted line costs microseconds.
    plain = logging.StreamHandler(sys.stderr)
    plain.setFormatter(logging.Formatter("%(asctime)s %(levelname)-8s %(message)s", datefmt="%H:%M:%S"))
    logging.basicConfig(level=logging.INFO, handlers=[plain])
    logging.getLogger("aoai_ft.emulator").setLevel(logging.INFO)
    url = http_url(host, port)
    console.print(f"[bold green]Azure OpenAI emulator[/] on [bold]{url}[/]  (Ctrl-C to stop)")
    console.print(f"  state: {data_dir or 'in memory'}; training takes {training_seconds:g} s"
                  + (f"; {len(rules):,} fault rule(s)" if rules else ""))

    def ready(_: object) -> None:
        console.print("  settings for every aoai-ft command (data plane and ARM), in another shell:")
        click.echo(format_exports(emulator_env(config, url)), nl=False)  # stdout, one line each, never wrapped
        sys.stdout.flush()

    serve_forever(config, on_ready=ready)
    console.print("Emulator stopped.")

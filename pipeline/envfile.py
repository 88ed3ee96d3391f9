"""Turn a stack's outputs into environment variables (the lab's `setx` step, replaced).

Outputs are named like the env vars the app reads (`pipeline.envnames`), so the mapping is 1:1. Secret outputs
(the API key) are left out unless asked for, so printing exports to a shared terminal or CI log stays safe.
"""
from __future__ import annotations

import json
import os
import re
import shlex
from collections.abc import Mapping
from pathlib import Path
from typing import IO

from pipeline import envnames
from pipeline.errors import UsageError, not_utf8

SHELLS: tuple[str, ...] = ("sh", "fish", "powershell")
_ENV_NAME = re.compile(r"^[A-Z_][A-Z0-9_]*$")


def outputs_to_env(outputs: Mapping[str, object], *, include_secrets: bool = False) -> dict[str, str]:
    """Env-var-shaped outputs as strings (non-strings as JSON); secrets only with `include_secrets`."""
    env: dict[str, str] = {}
    for key, value in outputs.items():
        if not _ENV_NAME.match(key) or value is None:
            continue
        if key in envnames.SECRET_OUTPUTS and not include_secrets:
            continue
        env[key] = value if isinstance(value, str) else json.dumps(value)
    return env


def format_exports(env: Mapping[str, str], shell: str = "sh") -> str:
    """Lines that set `env` in the given shell: `export K='v'` (sh), `set -gx` (fish), `$env:K = ...` (PowerShell)."""
    lines: list[str] = []
    for key, value in env.items():
        if shell == "sh":
            lines.append(f"export {key}={shlex.quote(value)}")
        elif shell == "fish":
            escaped = value.replace("\\", "\\\\").replace("'", "\\'")
            lines.append(f"set -gx {key} '{escaped}'")
        elif shell == "powershell":
            escaped = value.replace("'", "''")
            lines.append(f"$env:{key} = '{escaped}'")
        else:
            raise UsageError(f"unknown shell {shell!r}", hint="use one of: " + ", ".join(SHELLS))
    return "\n".join(lines) + ("\n" if lines else "")


def _dotenv_value(value: str) -> str:
    escaped = value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n").replace("$", "\\$")
    return f'"{escaped}"'


def write_dotenv(env: Mapping[str, str], path: Path | str) -> Path:
    """Write a `.env` file (KEY="value" lines) readable only by the owner, since it may hold the API key."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    body = "".join(f"{key}={_dotenv_value(value)}\n" for key, value in env.items())
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        fh.write(body)
    os.chmod(path, 0o600)
    return path


def read_outputs_file(handle: IO[str]) -> str:
    """The text of a --from-json FILE (or '-'); a file that is not UTF-8 text (a binary file, or UTF-16 as Windows
    PowerShell's `>` writes) is a usage error, not a traceback."""
    try:
        return handle.read()
    except UnicodeDecodeError as exc:
        raise not_utf8(handle.name, exc, hint="save the output of `pulumi stack output --json` as UTF-8 (in "
                                              "PowerShell: `| Out-File -Encoding utf8`)") from None


def parse_outputs_json(text: str, *, source: str = "input") -> dict[str, object]:
    """The JSON object `pulumi stack output --json` prints; anything else is a usage error."""
    if not text.strip():
        raise UsageError(f"{source} is empty", hint="give the output of `pulumi stack output --json --show-secrets`")
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise UsageError(f"{source} is not JSON: {exc}",
                         hint="give the output of `pulumi stack output --json --show-secrets`") from None
    if not isinstance(data, dict):
        raise UsageError(f"{source} is not a JSON object of stack outputs",
                         hint="give the output of `pulumi stack output --json --show-secrets`")
    return data

"""A stand-in `pulumi` executable for the Automation API (the real CLI is not installed here).

Stateful, like the CLI with a local backend: stacks are files in a folder (`<stack>.json` holds the outputs,
`<stack>.secrets.json` the names of secret outputs, `<stack>.config.json` the config set so far), ESC
environments are `env-<name>.json`. It answers the calls the Automation API makes (`version`, `stack output --json
[--show-secrets]`, `config set-all`) and `env set`, fails like the CLI does for an unknown stack, and logs every
argv with its working directory, so tests see exactly what reached "Pulumi".
"""
from __future__ import annotations

import json
import os
import stat
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

VERSION = "v3.272.0"

SCRIPT = r'''#!{python}
import json, os, sys
STATE = os.environ["FAKE_PULUMI_STATE"]
args = sys.argv[1:]
with open(os.path.join(STATE, "calls.log"), "a") as log:
    log.write(json.dumps({{"argv": args, "cwd": os.getcwd()}}) + "\n")
args = [a for a in args if a != "--non-interactive"]

def path(name):
    return os.path.join(STATE, name)

def load(name, default):
    return json.load(open(path(name))) if os.path.exists(path(name)) else default

def stack_arg():
    stack = args[args.index("--stack") + 1]
    if not os.path.exists(path(stack + ".json")):
        sys.stderr.write("error: no stack named '%s' found\n" % stack)
        sys.exit(255)
    return stack

if args == ["version"]:
    print(os.environ.get("FAKE_PULUMI_VERSION", "{version}"))
elif args[:2] == ["stack", "output"]:
    stack = stack_arg()
    outputs, secret = load(stack + ".json", {{}}), set(load(stack + ".secrets.json", []))
    if "--show-secrets" not in args:
        outputs = {{k: ("[secret]" if k in secret else v) for k, v in outputs.items()}}
    print(json.dumps(outputs))
elif args[:2] == ["config", "set-all"]:
    stack = stack_arg()
    config = load(stack + ".config.json", {{}})
    pairs = [args[i + 1] for i, a in enumerate(args) if a in ("--plaintext", "--secret")]
    for pair in pairs:
        key, _, value = pair.partition("=")
        config[key] = value
    json.dump(config, open(path(stack + ".config.json"), "w"))
elif args[:3] == ["env", "set", "--string"]:
    env, key, value = args[3], args[4], args[5]
    name = "env-" + env.replace("/", "_") + ".json"
    if not os.path.exists(path(name)):
        sys.stderr.write("error: environment '%s' not found\n" % env)
        sys.exit(1)
    values = load(name, {{}})
    values[key] = value
    json.dump(values, open(path(name), "w"))
else:
    sys.stderr.write("fake pulumi: unsupported command %r\n" % (args,))
    sys.exit(2)
'''


@dataclass
class FakePulumi:
    state: Path

    def add_stack(self, name: str, outputs: dict[str, Any] | None = None, *, secret: list[str] | None = None) -> None:
        (self.state / f"{name}.json").write_text(json.dumps(outputs or {}))
        if secret:
            (self.state / f"{name}.secrets.json").write_text(json.dumps(secret))

    def add_environment(self, name: str) -> None:
        (self.state / f"env-{name.replace('/', '_')}.json").write_text("{}")

    def config(self, stack: str) -> dict[str, str]:
        path = self.state / f"{stack}.config.json"
        return json.loads(path.read_text()) if path.exists() else {}

    def environment(self, name: str) -> dict[str, str]:
        return json.loads((self.state / f"env-{name.replace('/', '_')}.json").read_text())

    def calls(self) -> list[dict[str, Any]]:
        log = self.state / "calls.log"
        return [json.loads(line) for line in log.read_text().splitlines()] if log.exists() else []

    def commands(self) -> list[list[str]]:
        """The argv of every call but the version check, without the Automation API's --non-interactive."""
        return [[a for a in c["argv"] if a != "--non-interactive"] for c in self.calls() if c["argv"] != ["version"]]


def install(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> FakePulumi:
    bin_dir, state = tmp_path / "fake-pulumi-bin", tmp_path / "fake-pulumi-state"
    bin_dir.mkdir()
    state.mkdir()
    exe = bin_dir / "pulumi"
    exe.write_text(SCRIPT.format(python=sys.executable, version=VERSION))
    exe.chmod(exe.stat().st_mode | stat.S_IXUSR)
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ.get('PATH', '')}")
    monkeypatch.setenv("FAKE_PULUMI_STATE", str(state))
    return FakePulumi(state)

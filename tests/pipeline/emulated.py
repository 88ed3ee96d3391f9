"""Shared test helpers for the pipeline library and commands: start a fast emulator, a client for it, CLI runners.
The fixtures built on them (`fast_emulator`, `client`) live in tests/conftest.py."""
from __future__ import annotations

import os
import signal
import subprocess
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx

import openai
import pytest
from click.testing import CliRunner, Result

from pipeline import envnames
from pipeline.cli import cli, main
from pipeline.clients import ConnectionSettings, openai_client
from pipeline.emulator import EmulatorConfig, EmulatorServer
from pipeline.emulator.clock import Clock
from tests import loopback

FAST = dict(port=0, training_seconds=1.0, file_processing_seconds=0.1, deployment_seconds=0.2, log_requests=False)


def start(clock: Clock | None = None, **overrides: object) -> EmulatorServer:
    return EmulatorServer(EmulatorConfig(**{**FAST, **overrides}), clock=clock).start()


def make_client(emu: EmulatorServer, *, max_retries: int = 3) -> openai.AzureOpenAI:
    return openai_client(ConnectionSettings(endpoint=emu.url, api_key=emu.api_key, max_retries=max_retries,
                                            timeout=10))


def emulator_env(emu: EmulatorServer) -> dict[str, str]:
    return {envnames.AZURE_OPENAI_ENDPOINT: emu.url, envnames.AZURE_OPENAI_API_KEY: emu.api_key}


def add_fault(emu: EmulatorServer, **rule: object) -> None:
    """Add a fault rule at run time through the emulator's admin API (the default account's key)."""
    response = loopback.post(f"{emu.url}/admin/faults", json=rule, headers={"api-key": emu.api_key})
    assert response.status_code == 201, response.text


def fired(emu: EmulatorServer) -> list[int]:
    """How often each fault rule has fired so far, in the order the rules were added."""
    response = loopback.get(f"{emu.url}/admin/faults", headers={"api-key": emu.api_key}).raise_for_status()
    return [rule["fired"] for rule in response.json()["rules"]]


def invoke(emu: EmulatorServer, args: list[str], **kwargs: object) -> Result:
    """Run `aoai-ft ARGS` in-process with click's CliRunner, connection settings from the environment."""
    return CliRunner().invoke(cli, args, env=emulator_env(emu), catch_exceptions=True, **kwargs)


def run_main(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    """Run through `pipeline.cli.main` (where errors become messages and exit codes): (code, stdout, stderr)."""
    with pytest.raises(SystemExit) as exit_info:
        main(argv)
    captured = capsys.readouterr()
    return int(exit_info.value.code or 0), captured.out, captured.err


def write_bad_dataset(path: Path) -> Path:
    path.write_text('{"messages": [{"role": "user", "content": "hi"}]}\nnot json at all\n', encoding="utf-8")
    return path


def wait_until_healthy(proc: subprocess.Popen, url: str, *, timeout: float) -> None:
    """Block until an `aoai-ft emulator` subprocess answers /healthz; fail if it exits or takes over `timeout` s."""
    deadline = time.monotonic() + timeout
    while True:
        if proc.poll() is not None:
            output = proc.communicate() if proc.stdout is not None or proc.stderr is not None else ""
            raise AssertionError(f"the emulator exited with {proc.returncode}: {output}")
        try:
            if loopback.get(f"{url}/healthz", timeout=0.5).status_code == 200:
                return
        except httpx.TransportError:
            pass
        assert time.monotonic() < deadline, f"the emulator did not become healthy within {timeout:g} s"
        time.sleep(0.05)


@contextmanager
def reaped(proc: subprocess.Popen) -> Iterator[subprocess.Popen]:
    """`proc` for the block; still running when the block ends (a failed assertion, a timeout), it is killed and
    collected, so no process outlives its test."""
    try:
        yield proc
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()


def interrupt(args: list[str], env: dict[str, str], ready: Callable[[], bool], *,
              timeout: float = 30) -> tuple[int, str, str]:
    """Run `aoai-ft ARGS` as users do (a subprocess with `env` over ours: the warm launcher, which forwards signals
    to the command), press Ctrl-C (SIGINT) once `ready()` holds, and return (exit code, stdout, stderr)."""
    from tests.warm_cli import warm_aoai_ft

    proc = subprocess.Popen([str(warm_aoai_ft()), *args], env={**os.environ, "COLUMNS": "200", **env},
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, preexec_fn=default_sigint)
    with reaped(proc):
        deadline = time.monotonic() + timeout
        while not ready():
            if proc.poll() is not None:
                raise AssertionError(f"aoai-ft ended with {proc.returncode} before Ctrl-C: {proc.communicate()}")
            assert time.monotonic() < deadline, f"not ready to interrupt within {timeout:g} s"
            time.sleep(0.1)
        time.sleep(0.3)
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=30)
    return proc.returncode, out, err


def default_sigint() -> None:
    """For `preexec_fn`: a suite started in the background by a non-interactive shell inherits an ignored SIGINT,
    and so would the child; give it the default handler, as a terminal's Ctrl-C would find it."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)

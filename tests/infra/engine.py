"""The Pulumi engine's side of a dynamic provider, for tests: how it starts the provider host, and its gRPC calls.

`launch_spec(root)` computes the working directory and environment the engine gives the provider host for the
project in `root` (pkg/engine/project.go getPwdMain; provider_plugin.go NewProvider: every runtime option of
Pulumi.yaml as PULUMI_RUNTIME_<OPTION>, plus PULUMI_PROJECT and PULUMI_CONFIG). `ProviderHost` starts the
vendored `pulumi-resource-pulumi-python` with them in its own process group (as plugin.go does), reads the port
it prints, and calls it over gRPC with `pulumi.runtime.proto`, marshalling properties as the engine does for a
provider that does not accept secrets: plain values, nulls kept. `interrupt()` stops it like the engine's plugin
kill: SIGINT to the process group, SIGKILL after 5 s.
"""
from __future__ import annotations

import asyncio
import json
import os
import queue
import re
import signal
import subprocess
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import grpc
import yaml
from google.protobuf import empty_pb2, struct_pb2
from pulumi.runtime import rpc
from pulumi.runtime.proto import provider_pb2, provider_pb2_grpc

HOST_SCRIPT = Path(__file__).resolve().parent / "provider_host" / "pulumi-resource-pulumi-python"
KILL_GRACE_SECONDS = 5.0
"""plugin.go: after SIGINT to the plugin's process group the engine waits this long, then sends SIGKILL."""
UNKNOWN = rpc.UNKNOWN
"""What the engine sends for a value that is not known yet (preview)."""


@dataclass(frozen=True)
class LaunchSpec:
    cwd: Path
    env: dict[str, str]
    project: str


def launch_spec(root: Path, base_env: dict[str, str] | None = None) -> LaunchSpec:
    """cwd and environment of the dynamic provider host for the project whose Pulumi.yaml is in `root`."""
    project = yaml.safe_load((root / "Pulumi.yaml").read_text())
    main = project.get("main") or "."
    target = (root / main).resolve() if not Path(main).is_absolute() else Path(main)
    cwd = target if target.is_dir() else target.parent  # getPwdMain
    runtime = project["runtime"]
    options = runtime.get("options", {}) if isinstance(runtime, dict) else {}
    env = dict(os.environ if base_env is None else base_env)
    env.update({f"PULUMI_RUNTIME_{key.upper()}": str(value) for key, value in options.items()})
    env["PULUMI_PROJECT"] = project["name"]
    env["PULUMI_CONFIG"] = "{}"  # config of the `pulumi-python` package: this project sets none
    return LaunchSpec(cwd=cwd, env=env, project=project["name"])


def language_host_virtualenv(root: Path) -> Path:
    """Where the Python language host looks for the virtualenv: the option resolved against the project root."""
    options = yaml.safe_load((root / "Pulumi.yaml").read_text())["runtime"]["options"]
    venv = Path(options["virtualenv"])
    return venv if venv.is_absolute() else root / venv


def marshal(props: dict[str, Any]) -> struct_pb2.Struct:
    loop = asyncio.new_event_loop()  # like pulumi.dynamic.__main__ (asyncio.run would unset the thread's loop)
    try:
        return loop.run_until_complete(rpc.serialize_properties(props, {}))
    finally:
        loop.close()


def unmarshal(struct: struct_pb2.Struct) -> dict[str, Any]:
    return rpc.deserialize_properties(struct, keep_unknowns=True)


class HostExited(RuntimeError):
    """The provider host ended before printing its port."""


class ProviderHost:
    """One `pulumi-resource-pulumi-python` process, started and called the way the engine does."""

    def __init__(self, spec: LaunchSpec, *, extra_env: dict[str, str] | None = None) -> None:
        self.spec = spec
        self.log: list[str] = []
        self._log_changed = threading.Condition()
        env = {**spec.env, **(extra_env or {})}
        self.process = subprocess.Popen(
            [str(HOST_SCRIPT), "127.0.0.1:0"], cwd=spec.cwd, env=env,
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True,
        )
        threading.Thread(target=self._read_stderr, daemon=True).start()
        self.port = self._read_port()
        self.channel = grpc.insecure_channel(f"127.0.0.1:{self.port}")
        self.stub = provider_pb2_grpc.ResourceProviderStub(self.channel)

    # ---- process ----------------------------------------------------------------------------------
    def _read_port(self, timeout: float = 60.0) -> int:
        lines: queue.Queue[bytes] = queue.Queue()
        assert self.process.stdout is not None
        threading.Thread(target=lambda: lines.put(self.process.stdout.readline()), daemon=True).start()
        try:
            line = lines.get(timeout=timeout)
        except queue.Empty:
            self.kill()
            raise HostExited(f"no port after {timeout:g} s; stderr:\n{self.stderr}") from None
        if not line.strip():
            self.process.wait(timeout=10)
            time.sleep(0.1)  # let the stderr reader drain
            raise HostExited(f"exited with {self.process.returncode}; stderr:\n{self.stderr}")
        return int(line)

    def _read_stderr(self) -> None:
        assert self.process.stderr is not None
        for raw in self.process.stderr:
            with self._log_changed:
                self.log.append(raw.decode(errors="replace").rstrip("\n"))
                self._log_changed.notify_all()

    @property
    def stderr(self) -> str:
        return "\n".join(self.log)

    def wait_for_log(self, pattern: str, timeout: float = 60.0) -> str:
        """The first stderr line matching `pattern` (the engine shows these lines to the user)."""
        regex = re.compile(pattern)
        deadline = time.monotonic() + timeout
        with self._log_changed:
            while True:
                for line in self.log:
                    if regex.search(line):
                        return line
                left = deadline - time.monotonic()
                if left <= 0:
                    raise AssertionError(f"no stderr line matches {pattern!r} after {timeout:g} s:\n{self.stderr}")
                self._log_changed.wait(left)

    def interrupt(self) -> bool:
        """The engine's plugin kill: SIGINT to the process group, SIGKILL after 5 s. True = it exited in time."""
        os.killpg(self.process.pid, signal.SIGINT)
        try:
            self.process.wait(timeout=KILL_GRACE_SECONDS)
            return True
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait()
            return False

    def kill(self) -> None:
        if self.process.poll() is None:
            try:
                os.killpg(self.process.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            self.process.wait()

    def __enter__(self) -> ProviderHost:
        return self

    def __exit__(self, *_: object) -> None:
        self.channel.close()
        self.kill()

    # ---- gRPC, as the engine calls it -------------------------------------------------------------
    def urn(self, typ: str, name: str) -> str:
        return f"urn:pulumi:dev::{self.spec.project}::{typ}::{name}"

    def plugin_info(self) -> str:
        return self.stub.GetPluginInfo(empty_pb2.Empty()).version

    def configure(self) -> provider_pb2.ConfigureResponse:
        return self.stub.Configure(provider_pb2.ConfigureRequest(
            args=struct_pb2.Struct(), acceptSecrets=True, acceptResources=True))

    def check(self, urn: str, olds: dict[str, Any], news: dict[str, Any]) -> dict[str, Any]:
        response = self.stub.Check(provider_pb2.CheckRequest(urn=urn, olds=marshal(olds), news=marshal(news)))
        assert not response.failures, response.failures
        return unmarshal(response.inputs)

    def diff(self, urn: str, id_: str, olds: dict[str, Any], news: dict[str, Any]) -> provider_pb2.DiffResponse:
        return self.stub.Diff(provider_pb2.DiffRequest(urn=urn, id=id_, olds=marshal(olds), news=marshal(news)))

    def create(self, urn: str, props: dict[str, Any], *, timeout: float = 300) -> tuple[str, dict[str, Any]]:
        response = self.stub.Create(provider_pb2.CreateRequest(urn=urn, properties=marshal(props), timeout=timeout),
                                    timeout=timeout)
        return response.id, unmarshal(response.properties)

    def read(self, urn: str, id_: str, props: dict[str, Any]) -> tuple[str, dict[str, Any]]:
        response = self.stub.Read(provider_pb2.ReadRequest(urn=urn, id=id_, properties=marshal(props)))
        return response.id, unmarshal(response.properties)

    def update(self, urn: str, id_: str, olds: dict[str, Any], news: dict[str, Any]) -> dict[str, Any]:
        response = self.stub.Update(provider_pb2.UpdateRequest(urn=urn, id=id_, olds=marshal(olds), news=marshal(news)))
        return unmarshal(response.properties)

    def delete(self, urn: str, id_: str, props: dict[str, Any]) -> None:
        self.stub.Delete(provider_pb2.DeleteRequest(urn=urn, id=id_, properties=marshal(props)))

    def cancel(self) -> None:
        """What the engine sends every provider on the first Ctrl-C."""
        self.stub.Cancel(empty_pb2.Empty())


def engine_create(host: ProviderHost, urn: str, inputs: dict[str, Any]) -> tuple[str, dict[str, Any], dict[str, Any]]:
    """Check then Create, as the engine does for a new resource: (id, outputs, checked inputs)."""
    checked = host.check(urn, {}, inputs)
    id_, outs = host.create(urn, checked)
    return id_, outs, checked


def as_json(value: Any) -> str:
    return json.dumps(value, sort_keys=True, default=str)

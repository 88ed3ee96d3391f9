"""`aoai-ft emulator` as users run it: a real subprocess that serves, logs requests and stops on Ctrl-C."""
from __future__ import annotations

import signal
import subprocess

import httpx
import pytest
from click.testing import CliRunner

from pipeline.cli import cli
from pipeline.commands.emulator import parse_fault
from pipeline.emulator.server import free_port
from tests import loopback
from tests.pipeline.emulated import default_sigint, reaped, run_main, wait_until_healthy
from tests.paths import AOAI_FT


def test_serves_until_sigint(tmp_path):
    port = free_port()
    proc = subprocess.Popen(
        [str(AOAI_FT), "emulator", "--port", str(port), "--api-key", "k1", "--data-dir", str(tmp_path / "d"),
         "--training-seconds", "5", "--fault", "route=/nothing-matches,kind=500", "--arm-token", "t0ken"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    with reaped(proc):
        url = f"http://127.0.0.1:{port}"
        wait_until_healthy(proc, url, timeout=20)
        r = loopback.get(f"{url}/openai/models?api-version=2024-10-21", headers={"api-key": "k1"})
        assert r.status_code == 200 and r.json()["data"]
        assert loopback.get(f"{url}/admin/faults", headers={"api-key": "k1"}).json()["rules"][0]["route"] == "/nothing-matches"
        rg = f"{url}/subscriptions/00000000-0000-0000-0000-000000000000/resourcegroups/rg-emulator?api-version=2021-04-01"
        assert loopback.get(rg, headers={"Authorization": "Bearer wrong"}).status_code == 401
        assert loopback.get(rg, headers={"Authorization": "Bearer t0ken"}).status_code == 200
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=15)
    assert proc.returncode == 0, err
    assert "GET /openai/models -> 200" in err  # one log line per request
    assert "Emulator stopped." in err
    assert (tmp_path / "d" / "emulator.sqlite3").exists()


def test_bad_fault_is_a_usage_error():
    result = CliRunner().invoke(cli, ["emulator", "--fault", "route=/x,kind=teapot"])
    assert result.exit_code == 2 and result.output.startswith("Error: invalid --fault 'route=/x,kind=teapot'")


def test_fault_syntax_both_forms():
    a = parse_fault("route=/chat,kind=429,rate=0.5,seconds=2,methods=POST|GET")
    b = parse_fault('{"route": "/chat", "kind": "429", "rate": 0.5, "seconds": 2, "methods": ["POST", "GET"]}')
    assert a == b and a.rate == 0.5 and a.methods == ["POST", "GET"]


def test_injected_drops_log_no_traceback(tmp_path):
    """A drop is a broken connection for the client and nothing at all in the emulator's log."""
    port = free_port()
    proc = subprocess.Popen(
        [str(AOAI_FT), "emulator", "--port", str(port), "--api-key", "k1", "--quiet",
         "--fault", "route=/openai/models,kind=drop,count=3"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    with reaped(proc):
        url = f"http://127.0.0.1:{port}"
        wait_until_healthy(proc, url, timeout=20)
        models = f"{url}/openai/models?api-version=2024-10-21"
        for _ in range(3):
            try:
                loopback.get(models, headers={"api-key": "k1"}, timeout=5).read()
                raise AssertionError("the dropped response was read in full")
            except httpx.TransportError:
                pass
        assert loopback.get(models, headers={"api-key": "k1"}).status_code == 200
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=15)
    assert "Traceback" not in err and "LocalProtocolError" not in err and "ASGI callable" not in err, err
    assert "Emulator stopped." in err


def test_simulated_durations_reach_the_emulator(monkeypatch):
    """--training/--file-processing/--deployment/--eval-run-seconds set the clock the served emulator runs on."""
    import pipeline.emulator.server as server

    served = []
    monkeypatch.setattr(server, "serve_forever", lambda config, on_ready: served.append(config))
    result = CliRunner().invoke(cli, ["emulator", "--port", "0", "--quiet", "--training-seconds", "3",
                                      "--file-processing-seconds", "0", "--deployment-seconds", "0.25",
                                      "--eval-run-seconds", "0.5"])
    assert result.exit_code == 0, result.output
    [config] = served
    assert (config.training_seconds, config.file_processing_seconds, config.deployment_seconds,
            config.eval_run_seconds) == (3, 0, 0.25, 0.5)
    result = CliRunner().invoke(cli, ["emulator", "--deployment-seconds", "-1"])
    assert result.exit_code == 2 and "--deployment-seconds" in result.output


def test_a_port_in_use_is_one_error_saying_what_to_do(fast_emulator, capsys) -> None:
    """The usual case: an emulator started earlier still serves on the port."""
    code, out, err = run_main(["emulator", "--port", str(fast_emulator.config.port), "--quiet"], capsys)
    assert code == 2, err
    assert f"Error: cannot listen on 127.0.0.1:{fast_emulator.config.port}: " in err
    assert "hint: pick another --port (0 = any free port)" in err and "Traceback" not in err + out
    assert "export AZURE_OPENAI_ENDPOINT" not in out


def _ipv6_loopback() -> bool:
    import socket

    try:
        with socket.socket(socket.AF_INET6) as probe:
            probe.bind(("::1", 0))
    except OSError:
        return False
    return True


@pytest.mark.skipif(not _ipv6_loopback(), reason="no IPv6 loopback on this machine")
def test_an_ipv6_host_serves_and_the_printed_settings_reach_it() -> None:
    """`--host ::1 --port 0`: a free port in the IPv6 family, and bracketed URLs (`http://[::1]:PORT`) in what is
    printed and exported, which the openai SDK reaches as they are."""
    import shlex

    from pipeline.clients import ConnectionSettings, openai_client

    proc = subprocess.Popen([str(AOAI_FT), "emulator", "--host", "::1", "--port", "0", "--quiet"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, preexec_fn=default_sigint)
    with reaped(proc):
        exports = {}
        while len(exports) < 7:
            line = proc.stdout.readline()
            assert line, f"the emulator exited with {proc.wait()}: {proc.stderr.read()}"
            name, _, value = line.removeprefix("export ").strip().partition("=")
            exports[name] = shlex.split(value)[0]
        endpoint = exports["AZURE_OPENAI_ENDPOINT"]
        assert endpoint.startswith("http://[::1]:") and endpoint.endswith("/"), exports
        assert exports["AZURE_RESOURCE_MANAGER_ENDPOINT"] == endpoint.rstrip("/")
        client = openai_client(ConnectionSettings(endpoint=endpoint, api_key=exports["AZURE_OPENAI_API_KEY"],
                                                  max_retries=0, timeout=10))
        assert [model.id for model in client.models.list()]
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=15)
    assert proc.returncode == 0, err
    assert f"Azure OpenAI emulator on {endpoint.rstrip('/')}  (Ctrl-C to stop)" in err


def test_a_state_folder_that_cannot_be_made_is_one_error(tmp_path) -> None:
    in_the_way = tmp_path / "a-file"
    in_the_way.write_text("not a folder\n")
    result = CliRunner().invoke(cli, ["emulator", "--port", "0", "--data-dir", str(in_the_way / "state")])
    assert result.exit_code == 2, result.output
    assert result.output.startswith(f"Error: cannot write {in_the_way / 'state'}: {in_the_way} is a file")
    assert "hint: pass --data-dir a path in a directory you can write to" in result.output

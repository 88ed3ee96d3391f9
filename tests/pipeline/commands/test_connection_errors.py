"""The CLI as users run it (a subprocess): no credentials, or an endpoint that is not there, end in one `Error:`
line naming the problem and a hint, a non-zero exit, no traceback, and nothing changed on the service."""
from __future__ import annotations

import os
import subprocess
import time
from pathlib import Path

import pytest

from pipeline.emulator.server import free_port
from tests.warm_cli import warm_aoai_ft

ROOT = Path(__file__).resolve().parents[3]


def run(args: list[str], home: Path, **env: str) -> subprocess.CompletedProcess[str]:
    """`aoai-ft ARGS` with a clean environment: no Azure or OpenAI settings, an empty home (no `az login`)."""
    clean = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(home), "LANG": "C.UTF-8", **env}
    return subprocess.run([str(warm_aoai_ft()), *args], capture_output=True, text=True, env=clean, timeout=120, cwd=ROOT)


def assert_one_error(proc: subprocess.CompletedProcess[str], *needles: str) -> str:
    assert proc.returncode != 0
    lines = [line for line in proc.stderr.splitlines() if not line.startswith("  no answer yet; retry")]
    assert len(lines) == 2 and lines[0].startswith("Error: ") and lines[1].startswith("  hint: "), proc.stderr
    assert "Traceback" not in proc.stderr + proc.stdout
    for needle in needles:
        assert needle in proc.stderr, proc.stderr
    return lines[0]


@pytest.mark.parametrize("args", [
    ["status"],
    ["status", "ftjob-0123"],
    ["chat", "-d", "base"],
    ["upload", "datasets/training_set.jsonl"],
    ["report", "ftjob-0123", "--out", "{tmp}/report"],
])
def test_no_key_and_no_sign_in(fast_emulator, tmp_path: Path, args: list[str]) -> None:  # noqa: F811
    args = [a.replace("{tmp}", str(tmp_path)) for a in args]
    proc = run([*args, "--endpoint", fast_emulator.url, "--max-retries", "0"], tmp_path)
    assert_one_error(proc, "no API key is set and no Entra ID sign-in is available", "az login",
                     "AZURE_OPENAI_API_KEY")
    assert fast_emulator.state.dataplane.files.list(fast_emulator.config.default_account) == []
    assert not (tmp_path / "report").exists()


def test_unreachable_endpoint_without_retries_says_so(tmp_path: Path) -> None:
    url = f"http://127.0.0.1:{free_port()}"
    started = time.monotonic()
    proc = run(["status", "--endpoint", url, "--api-key", "k", "--max-retries", "0"], tmp_path)
    line = assert_one_error(proc, url, "no retries")
    assert "after" not in line and "retry" not in proc.stderr.replace("no retries", "")
    assert time.monotonic() - started < 20


def test_unreachable_endpoint_announces_each_retry(tmp_path: Path) -> None:
    url = f"http://127.0.0.1:{free_port()}"
    proc = run(["status", "--endpoint", url, "--api-key", "k", "--max-retries", "2"], tmp_path)
    assert_one_error(proc, url, "after 2 retries")
    notes = [line for line in proc.stderr.splitlines() if line.startswith("  no answer yet; retry")]
    assert [n.split(" in ")[0] for n in notes] == ["  no answer yet; retry 1 of 2", "  no answer yet; retry 2 of 2"]


@pytest.mark.parametrize("endpoint, needle", [
    ("127.0.0.1:8765", "endpoint must be an http(s) URL"),
    ("ftp://example.com/", "endpoint must be an http(s) URL"),
    ("http://[::1", "endpoint: Invalid IPv6 URL"),
])
def test_a_malformed_endpoint_is_one_line_naming_it(tmp_path: Path, endpoint: str, needle: str) -> None:
    proc = run(["status"], tmp_path, AZURE_OPENAI_ENDPOINT=endpoint, AZURE_OPENAI_API_KEY="k")
    assert proc.returncode == 2, proc.stderr
    line = assert_one_error(proc, needle, "AZURE_OPENAI_ENDPOINT")
    assert line.startswith("Error: invalid connection settings: ") and "pydantic" not in proc.stderr


@pytest.mark.parametrize("args, env, needles", [
    (["status"], {"AZURE_OPENAI_ENDPOINT": "{url}/openai/v1"},
     ["404: Resource not found", "hint: check the endpoint (--endpoint / AZURE_OPENAI_ENDPOINT)",
      "https://NAME.openai.azure.com/, with no path", "OPENAI_API_VERSION"]),
    (["status"], {"OPENAI_API_VERSION": "garbage"},
     ["BadRequest: API version not supported", "hint: set --api-version / OPENAI_API_VERSION to a dated version",
      "2024-10-21", "2025-04-01-preview"]),
    (["status", "ftjob-nope"], {},
     ["notFound: The fine-tuning job 'ftjob-nope' could not be found", "`aoai-ft status` lists the fine-tuning jobs"]),
])
def test_what_the_service_does_not_know_says_what_to_check(fast_emulator, tmp_path: Path, args: list[str],
                                                           env: dict[str, str], needles: list[str]) -> None:
    """A 404 for a path (an endpoint with a path after it) or for an id, and a 400 for the api-version, as Azure
    answers them (the emulator sends the same envelope), each with a hint."""
    settings = {"AZURE_OPENAI_ENDPOINT": fast_emulator.url, "AZURE_OPENAI_API_KEY": fast_emulator.api_key}
    settings.update({k: v.replace("{url}", fast_emulator.url) for k, v in env.items()})
    assert_one_error(run([*args, "--max-retries", "0"], tmp_path, **settings), *needles)


def test_an_api_version_is_stripped_like_the_endpoint(fast_emulator, tmp_path: Path) -> None:
    proc = run(["status"], tmp_path, AZURE_OPENAI_ENDPOINT=f" {fast_emulator.url} ",
               AZURE_OPENAI_API_KEY=fast_emulator.api_key, OPENAI_API_VERSION="2024-10-21 ")
    assert proc.returncode == 0 and "no fine-tuning jobs" in proc.stdout, proc.stderr


def test_a_service_failure_after_the_retries_says_to_run_it_again(fast_emulator, tmp_path: Path) -> None:
    from tests.pipeline.emulated import add_fault, fired

    add_fault(fast_emulator, route="/fine_tuning/jobs$", kind="500", count=2, methods=["GET"])
    proc = run(["status", "--max-retries", "1"], tmp_path, AZURE_OPENAI_ENDPOINT=fast_emulator.url,
               AZURE_OPENAI_API_KEY=fast_emulator.api_key)
    assert_one_error(proc, "internalFailure: Injected internal error.", "also on the retries (--max-retries",
                     "run the same command again")
    assert fired(fast_emulator)[-1] == 2  # the first answer and its one retry

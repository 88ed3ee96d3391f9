"""Chat completions per second: `aoai-ft emulator` against microsoft/aoai-api-simulator, side by side.

Target: the emulator serves >= 1.5x the requests per second of aoai-api-simulator (the best-known Azure OpenAI
simulator) while still doing all it does per request (key check, fault rules, deployment lookup, request
validation, usage counting).

Both servers run as separate processes, one at a time, pinned to one CPU; `loadgen.py` (keep-alive
connections, closed loop, warm-up then a counted window) runs pinned to the other CPU and sends both the same
request body. Rounds alternate (ours, peer, ours, peer...) so a busy neighbour on a shared machine slows both
sides alike; the ratio of the medians is the figure.

The peer is not part of this project; get it once (it is MIT-licensed):

    git clone https://github.com/microsoft/aoai-api-simulator && git -C aoai-api-simulator checkout 4ed91fb
    python -m venv aoai-api-simulator/.venv
    aoai-api-simulator/.venv/bin/pip install -r aoai-api-simulator/src/aoai-api-simulator/requirements.txt

then point this script at it (`--peer DIR`, or AOAI_FT_BENCH_PEER=DIR; `--peer-python` if its interpreter is
not DIR/.venv/bin/python). Without a peer only the emulator is measured.

    .venv/bin/python benchmarks/bench_emulator_chat.py --peer ../aoai-api-simulator [--rounds 3] [--seconds 10]
"""
from __future__ import annotations

import argparse
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import IO

import httpx

ROOT = Path(__file__).resolve().parent.parent
LOADGEN = Path(__file__).resolve().parent / "loadgen.py"
TARGET_RATIO = 1.5
PEER_ENV, PEER_PYTHON_ENV = "AOAI_FT_BENCH_PEER", "AOAI_FT_BENCH_PEER_PYTHON"
PEER_COMMIT = "4ed91fb"
API_VERSION = "2024-10-21"
DEPLOYMENT, MODEL = "gpt-4o-mini", "gpt-4o-mini"
KEY = "bench-key"
# A short conversation that asks for a short answer (--max-tokens), so both servers do comparable work per
# request: without max_tokens the peer generates ~4,000 tokens of lorem ipsum, which would measure its text
# generator, while the emulator's base-model answer is ~60 tokens.
MESSAGES = [{"role": "system", "content": "The system is an AI teacher"},
            {"role": "user", "content": "What is artificial intelligence?"}]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def cpus() -> tuple[set[int] | None, set[int] | None]:
    """(server CPUs, load-generator CPUs): one CPU each when there are two or more, else no pinning."""
    try:
        available = sorted(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return None, None
    if len(available) < 2:
        return None, None
    return {available[-1]}, {available[0]}


def pinned(cpu: set[int] | None) -> Callable[[], None] | None:
    return (lambda: os.sched_setaffinity(0, cpu)) if cpu else None


def server_log() -> IO[str]:
    """Where a server's output goes: kept only to show why it failed to start."""
    return tempfile.TemporaryFile("w+")


def wait_healthy(url: str, proc: subprocess.Popen, log: IO[str], timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            log.seek(0)
            tail = "".join(log.readlines()[-15:])
            raise SystemExit(f"server exited with status {proc.returncode} before answering on {url}:\n{tail}")
        try:
            httpx.get(url, timeout=1.0)
            return
        except httpx.HTTPError:
            time.sleep(0.1)
    raise SystemExit(f"server did not answer on {url} within {timeout:g} s")


class Ours:
    def __init__(self, log_requests: bool) -> None:
        self.log_requests = log_requests
        self.name = "aoai-ft emulator" + ("" if log_requests else " --quiet")

    def start(self, port: int, cpu: set[int] | None, log: IO[str], body: dict) -> subprocess.Popen:
        env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))}
        proc = subprocess.Popen(
            [sys.executable, "-c", "import sys; from pipeline.cli import main; sys.argv[0] = 'aoai-ft'; main()",
             "emulator", "--port", str(port), "--api-key", KEY, *([] if self.log_requests else ["--quiet"])],
            cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT, preexec_fn=pinned(cpu))
        base = f"http://127.0.0.1:{port}"
        wait_healthy(f"{base}/healthz", proc, log)
        arm = (f"{base}/subscriptions/00000000-0000-0000-0000-000000000000/resourceGroups/rg-emulator/providers/"
               f"Microsoft.CognitiveServices/accounts/emulator/deployments/{DEPLOYMENT}?api-version=2024-10-01")
        headers = {"Authorization": "Bearer bench"}
        httpx.put(arm, headers=headers, json={"sku": {"name": "Standard", "capacity": 1}, "properties": {
            "model": {"format": "OpenAI", "name": MODEL, "version": "2024-07-18"}}}).raise_for_status()
        deadline = time.monotonic() + 30
        while httpx.get(arm, headers=headers).json()["properties"]["provisioningState"] != "Succeeded":
            if time.monotonic() > deadline:
                raise SystemExit("the benchmark deployment did not become ready")
            time.sleep(0.2)
        return proc


class Peer:
    name = f"aoai-api-simulator@{PEER_COMMIT}"

    def __init__(self, folder: Path, python: Path, log_requests: bool) -> None:
        self.folder, self.python, self.log_requests = folder, python, log_requests

    def start(self, port: int, cpu: set[int] | None, log: IO[str], body: dict) -> subprocess.Popen:
        from pipeline.dataset.tokenizer import ensure_offline_vocab  # it counts tokens with tiktoken: no download

        env = {**os.environ, "PYTHONPATH": str(self.folder / "src" / "aoai-api-simulator" / "src"),
               "SIMULATOR_MODE": "generate", "SIMULATOR_API_KEY": KEY,
               "LATENCY_OPENAI_CHAT_COMPLETIONS_MEAN": "0", "LATENCY_OPENAI_CHAT_COMPLETIONS_STD_DEV": "0",
               "TIKTOKEN_CACHE_DIR": str(ensure_offline_vocab(("cl100k_base",)))}
        proc = subprocess.Popen(
            # Its access log only when the emulator logs each request too (--log-requests).
            [str(self.python), "-m", "uvicorn", "aoai_api_simulator.main:app", "--port", str(port),
             *([] if self.log_requests else ["--no-access-log"])],
            cwd=self.folder, env=env, stdout=log, stderr=subprocess.STDOUT, preexec_fn=pinned(cpu))
        wait_healthy(f"http://127.0.0.1:{port}/", proc, log)
        # Its first chat request builds lorem-ipsum reference texts (seconds); do that before the warm-up.
        url = f"http://127.0.0.1:{port}/openai/deployments/{DEPLOYMENT}/chat/completions?api-version={API_VERSION}"
        httpx.post(url, headers={"api-key": KEY}, json=body, timeout=120).raise_for_status()
        return proc


def measure(server: Ours | Peer, args: argparse.Namespace) -> dict:
    """One round: start the server, load it, stop it."""
    server_cpu, load_cpu = cpus()
    port = free_port()
    body = {"messages": MESSAGES, **({"max_tokens": args.max_tokens} if args.max_tokens else {})}
    log = server_log()
    proc = server.start(port, server_cpu, log, body)
    try:
        url = f"http://127.0.0.1:{port}/openai/deployments/{DEPLOYMENT}/chat/completions?api-version={API_VERSION}"
        out = subprocess.run(
            [sys.executable, str(LOADGEN), url, "--header", f"api-key: {KEY}", "--body", json.dumps(body),
             "--connections", str(args.connections), "--warmup", str(args.warmup), "--seconds", str(args.seconds)],
            check=True, capture_output=True, text=True, preexec_fn=pinned(load_cpu), timeout=args.seconds + 120)
        return json.loads(out.stdout)
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        log.close()


def peer_from(args: argparse.Namespace) -> Peer | None:
    folder = args.peer or os.environ.get(PEER_ENV)
    if not folder:
        print(f"No peer given (--peer DIR or {PEER_ENV}=DIR): measuring the emulator only. To compare, clone "
              f"https://github.com/microsoft/aoai-api-simulator at {PEER_COMMIT} and install its requirements "
              "(see this script's docstring).")
        return None
    root = Path(folder).expanduser().resolve()
    if not (root / "src" / "aoai-api-simulator" / "src" / "aoai_api_simulator").is_dir():
        raise SystemExit(f"{root} is not an aoai-api-simulator checkout (no src/aoai-api-simulator/src/"
                         "aoai_api_simulator); see this script's docstring")
    python = Path(args.peer_python or os.environ.get(PEER_PYTHON_ENV) or root / ".venv" / "bin" / "python")
    if not python.exists():
        raise SystemExit(f"no Python for the peer at {python}: make a venv with its requirements "
                         f"(see this script's docstring) or pass --peer-python / {PEER_PYTHON_ENV}")
    return Peer(root, python, args.log_requests)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--peer", help=f"aoai-api-simulator checkout (default: ${PEER_ENV})")
    parser.add_argument("--peer-python", help=f"its venv's python (default: $PEER/.venv/bin/python or ${PEER_PYTHON_ENV})")
    parser.add_argument("--rounds", type=int, default=3, help="measurements of each side, alternating")
    parser.add_argument("--connections", type=int, default=48)
    parser.add_argument("--warmup", type=float, default=2.0)
    parser.add_argument("--seconds", type=float, default=10.0, help="counted window of each round")
    parser.add_argument("--max-tokens", type=int, default=32, help="max_tokens of every request (0: not sent)")
    parser.add_argument("--log-requests", action="store_true",
                        help="both servers log each request (the emulator's default, the peer's access log)")
    args = parser.parse_args()

    sides: list[Ours | Peer] = [Ours(args.log_requests)]
    peer = peer_from(args)
    if peer is not None:
        sides.append(peer)
    server_cpu, load_cpu = cpus()
    print(f"chat: {len(MESSAGES)} messages, max_tokens {args.max_tokens or 'not sent'}; "
          f"{'a log line per request; ' if args.log_requests else ''}{args.connections} "
          f"keep-alive connections, {args.warmup:g} s warm-up, {args.seconds:g} s counted; "
          + (f"server on CPU {sorted(server_cpu)}, load generator on CPU {sorted(load_cpu)}" if server_cpu
             else "no CPU pinning"), flush=True)
    rates: dict[str, list[float]] = {side.name: [] for side in sides}
    failures = 0
    for round_ in range(1, args.rounds + 1):
        for side in sides:
            result = measure(side, args)
            rates[side.name].append(result["rate"])
            failures += result["failed"]
            extra = f", non-200: {result['statuses']}" if result["failed"] else ""
            print(f"round {round_}: {side.name:<32} {result['rate']:>8,.0f} req/s{extra}", flush=True)
    print()
    for name, values in rates.items():
        print(f"{name:<32} median {statistics.median(values):>8,.0f} req/s   best {max(values):>8,.0f}")
    if peer is None:
        sys.exit(1 if failures else 0)
    ratio = statistics.median(rates[sides[0].name]) / statistics.median(rates[peer.name])
    print(f"ratio (median/median): {ratio:.2f}x (target >= {TARGET_RATIO}x)")
    print("PASS" if ratio >= TARGET_RATIO and not failures else "BELOW TARGET")
    sys.exit(0 if ratio >= TARGET_RATIO and not failures else 1)


if __name__ == "__main__":
    main()

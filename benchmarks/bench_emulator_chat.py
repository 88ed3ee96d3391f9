"""Chat completions per second against the emulator on loopback (target: >= 300 req/s).

Starts an in-process emulator with a base-model and a fine-tuned deployment, then sends a fixed number of
requests from a few client threads (keep-alive httpx clients) and prints the rate. Bounded: --requests.

    .venv/bin/python benchmarks/bench_emulator_chat.py [--requests 2000] [--threads 4]
"""
from __future__ import annotations

import argparse
import statistics
import threading
import time
from pathlib import Path

import httpx

from pipeline.emulator import EmulatorConfig, EmulatorServer
from pipeline.emulator.clock import ManualClock
from pipeline.emulator.deployments import Deployment

ROOT = Path(__file__).resolve().parent.parent
TARGET = 300.0


def fine_tune(emu: EmulatorServer, clock: ManualClock) -> str:
    """Train a model on the sample data (simulated clock) and return its name."""
    key = {"api-key": emu.api_key}
    base = f"{emu.url}/openai"
    q = "?api-version=2024-10-21"
    with (ROOT / "datasets" / "training_set.jsonl").open("rb") as fh:
        file_id = httpx.post(f"{base}/files{q}", headers=key, data={"purpose": "fine-tune"},
                             files={"file": ("training_set.jsonl", fh)}).json()["id"]
    emu.state.dataplane.files.wait_for_check(file_id)
    clock.advance(10)
    job = httpx.post(f"{base}/fine_tuning/jobs{q}", headers=key,
                     json={"model": "gpt-4o-mini-2024-07-18", "training_file": file_id}).json()
    clock.advance(emu.config.training_seconds + 1)
    return httpx.get(f"{base}/fine_tuning/jobs/{job['id']}{q}", headers=key).json()["fine_tuned_model"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--threads", type=int, default=4)
    args = parser.parse_args()

    clock = ManualClock()
    with EmulatorServer(EmulatorConfig(port=0, log_requests=False), clock=clock) as emu:
        model = fine_tune(emu, clock)
        for name, deployed in (("ft", model), ("base", "gpt-4o-mini-2024-07-18")):
            emu.state.deployments.put(Deployment(account="emulator", name=name, sku={"name": "Standard", "capacity": 1},
                                                 properties={"model": {"format": "OpenAI", "name": deployed}},
                                                 tags={}, created_at=0, ready_at=0))
        url = f"{emu.url}/openai/deployments/{{}}/chat/completions?api-version=2024-10-21"
        body = {"messages": [{"role": "system", "content": "The system is an AI teacher"},
                             {"role": "user", "content": "What is artificial intelligence?"}]}
        per_thread = args.requests // args.threads
        latencies: list[float] = []
        errors: list[int] = []
        lock = threading.Lock()

        def worker(index: int) -> None:
            mine: list[float] = []
            with httpx.Client(headers={"api-key": emu.api_key}) as client:
                for i in range(per_thread):
                    target = url.format("ft" if (i + index) % 2 == 0 else "base")
                    started = time.perf_counter()
                    r = client.post(target, json=body)
                    mine.append(time.perf_counter() - started)
                    if r.status_code != 200:
                        errors.append(r.status_code)
            with lock:
                latencies.extend(mine)

        with httpx.Client(headers={"api-key": emu.api_key}) as warm:  # load the tokenizer + index once
            for name in ("ft", "base"):
                warm.post(url.format(name), json=body).raise_for_status()
        threads = [threading.Thread(target=worker, args=(i,)) for i in range(args.threads)]
        started = time.perf_counter()
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        elapsed = time.perf_counter() - started

    done = per_thread * args.threads
    rate = done / elapsed
    latencies.sort()
    print(f"{done} chat requests in {elapsed:.2f} s from {args.threads} threads: {rate:,.0f} req/s "
          f"(target >= {TARGET:.0f}); median {statistics.median(latencies) * 1000:.1f} ms, "
          f"p99 {latencies[int(len(latencies) * 0.99) - 1] * 1000:.1f} ms; errors: {len(errors)}")
    print("PASS" if rate >= TARGET and not errors else "BELOW TARGET")


if __name__ == "__main__":
    main()

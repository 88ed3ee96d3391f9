#!/usr/bin/env python3
"""The test suite's wall time on this machine, and where the cores' time went, for one or more worker counts.

    python3 benchmarks/bench_suite.py                 # dev.py test as CI runs it (its default worker count)
    python3 benchmarks/bench_suite.py --workers 4 5 6 --runs 2

Each run is `python3 dev.py test -q -p no:cacheprovider [-n N --dist loadgroup]`, the command README.md and CI use.
Printed per run: wall seconds, tests passed, and the machine's busy and idle CPU-seconds over the run, read from
/proc/stat (busy counts every process, so run it on an otherwise quiet machine; idle CPU-seconds say how much of
the cores the tests left unused while they waited). Linux only. Not a test: timings on a shared VM vary by ±10%.
"""
from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
TICKS = os.sysconf("SC_CLK_TCK")


def cpu_ticks() -> tuple[int, int]:
    """(busy, idle) clock ticks of all cores since boot: user + nice + system + irq + softirq, and idle."""
    fields = [int(x) for x in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    user, nice, system, idle, _iowait, irq, softirq = fields[:7]
    return user + nice + system + irq + softirq, idle


def run_suite(workers: int | None) -> dict:
    argv = [sys.executable, "dev.py", "test", "-q", "-p", "no:cacheprovider"]
    if workers is not None:
        argv += ["-n", str(workers), "--dist", "loadgroup"]
    load = os.getloadavg()[0]
    busy0, idle0 = cpu_ticks()
    started = time.perf_counter()
    proc = subprocess.run(argv, cwd=ROOT, capture_output=True, text=True)
    wall = time.perf_counter() - started
    busy1, idle1 = cpu_ticks()
    summary = (proc.stdout.strip().splitlines() or [""])[-1]
    passed = re.search(r"(\d+) passed", summary)
    return {"workers": workers or "default", "wall_s": round(wall, 1), "passed": int(passed.group(1)) if passed else 0,
            "exit_code": proc.returncode,
            "failures": [line.split()[1] for line in proc.stdout.splitlines() if line.startswith(("FAILED ", "ERROR "))],
            "busy_cpu_s": round((busy1 - busy0) / TICKS, 1),
            "idle_cpu_s": round((idle1 - idle0) / TICKS, 1), "load_before": load}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workers", type=int, nargs="*", default=[None], help="pytest-xdist worker counts to try")
    parser.add_argument("--runs", type=int, default=1)
    args = parser.parse_args()
    print(f"date (UTC) {time.strftime('%Y-%m-%d %H:%M', time.gmtime())}, {os.cpu_count()} cores", flush=True)
    failed = False
    for _ in range(args.runs):
        for workers in args.workers:
            row = run_suite(workers)
            failed |= row["exit_code"] != 0
            print(json.dumps(row), flush=True)
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())

#!/usr/bin/env python3
"""`aoai-ft validate` against the lab's token-count cell, side by side, in one run.

    .venv/bin/python benchmarks/bench_validate.py [--sizes 50000 100000] [--runs 3]

For each size a file is generated once with make_dataset.py (cached under $TMPDIR/aoai-ft-bench). The lab's
Task 6 cell (copied verbatim below; only its `files = [...]` line is pointed at the generated file) and
`aoai-ft validate FILE --json` run as separate processes, alternately, `--runs` times each. Printed: best
wall time of each, the speed ratio, peak RSS of each (wait4's ru_maxrss, which covers our forked child too)
and whether the statistics the cell prints equal ours. Not a test: timings on a shared 2-core VM are noisy.
"""
from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
MAKE_DATASET = Path(__file__).resolve().parent / "make_dataset.py"
CACHE = Path(tempfile.gettempdir()) / "aoai-ft-bench"

# The lab's cell (seed 000, Task 6 step 8), verbatim.
SEED_CELL = '''\
# Validate token counts

import json
import tiktoken
import numpy as np
from collections import defaultdict

encoding = tiktoken.get_encoding("o200k_base") # default encoding for gpt-4o models. This requires the latest version of tiktoken to be installed.

def num_tokens_from_messages(messages, tokens_per_message=3, tokens_per_name=1):
    num_tokens = 0
    for message in messages:
        num_tokens += tokens_per_message
        for key, value in message.items():
            num_tokens += len(encoding.encode(value))
            if key == "name":
                num_tokens += tokens_per_name
    num_tokens += 3
    return num_tokens

def num_assistant_tokens_from_messages(messages):
    num_tokens = 0
    for message in messages:
        if message["role"] == "assistant":
            num_tokens += len(encoding.encode(message["content"]))
    return num_tokens

def print_distribution(values, name):
    print(f"\\n#### Distribution of {name}:")
    print(f"min / max: {min(values)}, {max(values)}")
    print(f"mean / median: {np.mean(values)}, {np.median(values)}")
    print(f"p5 / p95: {np.quantile(values, 0.1)}, {np.quantile(values, 0.9)}")

files = ['training_set.jsonl', 'validation_set.jsonl']

for file in files:
    print(f"Processing file: {file}")
    with open(file, 'r', encoding='utf-8') as f:
        dataset = [json.loads(line) for line in f]

    total_tokens = []
    assistant_tokens = []

    for ex in dataset:
        messages = ex.get("messages", {})
        total_tokens.append(num_tokens_from_messages(messages))
        assistant_tokens.append(num_assistant_tokens_from_messages(messages))

    print_distribution(total_tokens, "total tokens")
    print_distribution(assistant_tokens, "assistant tokens")
    print('*' * 50)
'''


def dataset(n: int) -> Path:
    CACHE.mkdir(parents=True, exist_ok=True)
    path = CACHE / f"d{n}.jsonl"
    if not path.exists():
        tmp = path.with_suffix(".tmp")
        subprocess.run([sys.executable, str(MAKE_DATASET), str(tmp), str(n)], check=True)
        tmp.rename(path)
    return path


def run(argv: list[str], env: dict[str, str]) -> tuple[float, float, str]:
    """(wall seconds, peak RSS MB of the process and its waited-for children, stdout)."""
    start = time.perf_counter()
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env, cwd=ROOT)
    out = proc.stdout.read()
    err = proc.stderr.read()
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - start
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode not in (0, 1):
        raise SystemExit(f"{argv[:3]} failed ({proc.returncode}): {err.decode()[-2000:]}")
    return wall, usage.ru_maxrss / 1024, out.decode()


def seed_stats(output: str) -> dict[str, dict[str, float]]:
    """Parse the cell's print_distribution blocks ("p5 / p95" are its mislabelled 10th/90th percentiles)."""
    stats = {}
    for name, block in re.findall(r"#### Distribution of (\w+) tokens:\n(.*?)(?=\n\n|\n\*|\Z)", output, re.S):
        nums = [float(x) for x in re.findall(r"-?\d+(?:\.\d+)?(?:e[-+]?\d+)?", block.split(":", 1)[1].replace("p5 / p95:", "").replace("mean / median:", ""))]
        mn, mx, mean, median, p10, p90 = nums
        stats[name] = {"min": mn, "max": mx, "mean": mean, "median": median, "p10": p10, "p90": p90}
    return stats


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--sizes", type=int, nargs="+", default=[50_000, 100_000])
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--seed-sizes", type=int, nargs="*", default=None,
                    help="sizes on which to run the (slow) lab cell too; default: the smallest size")
    args = ap.parse_args()

    sys.path.insert(0, str(ROOT))
    from pipeline.dataset.tokenizer import ensure_offline_vocab

    env = dict(os.environ, TIKTOKEN_CACHE_DIR=str(ensure_offline_vocab(("o200k_base",))))
    aoai_ft = str(Path(sys.executable).with_name("aoai-ft"))
    seed_sizes = set(args.seed_sizes if args.seed_sizes is not None else [min(args.sizes)])
    rows = []
    for n in args.sizes:
        path = dataset(n)
        cell = CACHE / f"seed_cell_{n}.py"
        cell.write_text(SEED_CELL.replace("files = ['training_set.jsonl', 'validation_set.jsonl']", f"files = [{str(path)!r}]"))
        ours, seed = [], []
        for _ in range(args.runs):
            ours.append(run([aoai_ft, "validate", str(path), "--json"], env))
            if n in seed_sizes:
                seed.append(run([sys.executable, str(cell)], env))
        best = min(ours)
        report = json.loads(best[2])["files"][0]
        row = {"examples": n, "MB": path.stat().st_size / 1e6, "ours_s": best[0], "ours_rss_mb": max(r[1] for r in ours),
               "valid": report["ok"]}
        if seed:
            seed_best = min(seed)
            expected = seed_stats(seed_best[2])
            got = {k: {f: float(v) for f, v in report["tokens"][k].items()} for k in ("total", "assistant")}
            row.update(seed_s=seed_best[0], seed_rss_mb=max(r[1] for r in seed), ratio=seed_best[0] / best[0],
                       stats_match=expected == got)
            if expected != got:
                print(f"stats differ on {n}:\n  lab cell: {expected}\n  ours:     {got}", file=sys.stderr)
        rows.append(row)
        print(json.dumps(row), flush=True)

    print(f"\n{'examples':>9} {'MB':>6} {'lab cell s':>10} {'aoai-ft s':>9} {'ratio':>6} {'lab RSS MB':>10} {'ours RSS MB':>11}  stats match")
    for r in rows:
        print(f"{r['examples']:>9,} {r['MB']:>6.1f} {r.get('seed_s', float('nan')):>10.2f} {r['ours_s']:>9.2f} "
              f"{r.get('ratio', float('nan')):>5.1f}x {r.get('seed_rss_mb', float('nan')):>10.0f} {r['ours_rss_mb']:>11.0f}  "
              f"{r.get('stats_match', '-')}")
    ok = all(r.get("stats_match", True) for r in rows)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())

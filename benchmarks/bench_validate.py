#!/usr/bin/env python3
"""`aoai-ft validate` against the lab's token-count cell, side by side, in one run; then a 512 MB file and a
file with one line of hundreds of MB, for throughput and memory.

    .venv/bin/python benchmarks/bench_validate.py [--sizes 50000] [--runs 5] [--big-mb 512] [--long-line-mb 200]

For each size a file is generated once with make_dataset.py (cached under $TMPDIR/aoai-ft-bench). The lab's
Task 6 cell (copied verbatim below; only its `files = [...]` line is pointed at the generated file) and
`aoai-ft validate FILE --json` run as separate processes, alternately, `--runs` times each. Printed: best
wall time of each, the speed ratio, peak RSS of each (wait4's ru_maxrss: the largest of our process and its
forked workers) and whether the statistics the cell prints equal ours.

`--big-mb`: a make_dataset.py file of about that many MB (generated once, cached), validated `--runs` times:
best time, throughput in MB/s and peak RSS, which must not grow with the file. `--long-line-mb`: the sample
training set plus one example whose line is that long; validate must report it as example_too_long at its
line with no more memory than the small sample file alone needs (both figures printed).
Not a test: timings on a shared 2-core VM are noisy.
"""
from __future__ import annotations

import argparse
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import NamedTuple

ROOT = Path(__file__).resolve().parent.parent
MAKE_DATASET = Path(os.environ.get("AOAI_FT_MAKE_DATASET") or Path(__file__).resolve().parent / "make_dataset.py")
CACHE = Path(tempfile.gettempdir()) / "aoai-ft-bench"
BYTES_PER_EXAMPLE = 979  # make_dataset.py's average line, to aim --big-mb

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


def long_line_file(megabytes: int) -> Path:
    """The sample training set, then one example whose user content makes its line `megabytes` MB, then the
    sample's first line again (so the over-long line is neither the first nor the last)."""
    CACHE.mkdir(parents=True, exist_ok=True)
    path = CACHE / f"long_line_{megabytes}mb.jsonl"
    if path.exists():
        return path
    sample = (ROOT / "datasets" / "training_set.jsonl").read_bytes()
    head, tail = b'{"messages": [{"role": "user", "content": "', b'"}, {"role": "assistant", "content": "ok"}]}\n'
    tmp = path.with_suffix(".tmp")
    with open(tmp, "wb") as out:
        out.write(sample)
        out.write(head)
        left = megabytes * 10**6 - len(head) - len(tail)
        piece = b"word " * (1 << 18)
        while left > 0:
            out.write(piece[:left])
            left -= len(piece)
        out.write(tail)
        out.write(sample.splitlines(keepends=True)[0])
    tmp.rename(path)
    return path


class Run(NamedTuple):
    wall: float  # seconds
    rss: float  # peak RSS in MB of the process and its waited-for children (wait4's ru_maxrss)
    out: str
    cpu: float  # user + system seconds of the process and its children


def run(argv: list[str], env: dict[str, str]) -> Run:
    with tempfile.TemporaryFile() as err:
        start = time.perf_counter()
        proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=err, env=env, cwd=ROOT)
        out = proc.stdout.read()  # type: ignore[union-attr]
        _, status, usage = os.wait4(proc.pid, 0)
        wall = time.perf_counter() - start
        proc.returncode = os.waitstatus_to_exitcode(status)
        if proc.returncode not in (0, 1):
            err.seek(0)
            raise SystemExit(f"{argv[:3]} failed ({proc.returncode}): {err.read().decode()[-2000:]}")
    return Run(wall, usage.ru_maxrss / 1024, out.decode(), usage.ru_utime + usage.ru_stime)


def seed_stats(output: str) -> dict[str, dict[str, float]]:
    """Parse the cell's print_distribution blocks ("p5 / p95" are its mislabelled 10th/90th percentiles)."""
    stats = {}
    for name, block in re.findall(r"#### Distribution of (\w+) tokens:\n(.*?)(?=\n\n|\n\*|\Z)", output, re.S):
        nums = [float(x) for x in re.findall(r"-?\d+(?:\.\d+)?(?:e[-+]?\d+)?", block.split(":", 1)[1].replace("p5 / p95:", "").replace("mean / median:", ""))]
        mn, mx, mean, median, p10, p90 = nums
        stats[name] = {"min": mn, "max": mx, "mean": mean, "median": median, "p10": p10, "p90": p90}
    return stats


def compare_with_lab_cell(sizes: list[int], seed_sizes: set[int], runs: int, env: dict[str, str],
                          aoai_ft: str) -> list[dict]:
    rows = []
    for n in sizes:
        path = dataset(n)
        cell = CACHE / f"seed_cell_{n}.py"
        cell.write_text(SEED_CELL.replace("files = ['training_set.jsonl', 'validation_set.jsonl']", f"files = [{str(path)!r}]"))
        ours, seed = [], []
        for _ in range(runs):
            ours.append(run([aoai_ft, "validate", str(path), "--json"], env))
            if n in seed_sizes:
                seed.append(run([sys.executable, str(cell)], env))
        best = min(ours)
        report = json.loads(best[2])["files"][0]
        row = {"examples": n, "MB": path.stat().st_size / 1e6, "ours_s": best[0],
               "ours_median_s": statistics.median(r[0] for r in ours), "ours_rss_mb": max(r[1] for r in ours),
               "valid": report["ok"]}
        if seed:
            seed_best = min(seed)
            expected = seed_stats(seed_best[2])
            got = {k: {f: float(v) for f, v in report["tokens"][k].items()} for k in ("total", "assistant")}
            row.update(seed_s=seed_best[0], seed_median_s=statistics.median(r[0] for r in seed),
                       seed_rss_mb=max(r[1] for r in seed), ratio=seed_best[0] / best[0],
                       median_ratio=statistics.median(r[0] for r in seed) / statistics.median(r[0] for r in ours),
                       cpu_ratio=min(r.cpu for r in seed) / min(r.cpu for r in ours),
                       stats_match=expected == got)
            if expected != got:
                print(f"stats differ on {n}:\n  lab cell: {expected}\n  ours:     {got}", file=sys.stderr)
        rows.append(row)
        print(json.dumps(row), flush=True)
    return rows


def big_file(megabytes: int, runs: int, env: dict[str, str], aoai_ft: str) -> dict:
    """Throughput and peak memory on a file of about `megabytes` MB."""
    path = dataset(round(megabytes * 10**6 / BYTES_PER_EXAMPLE))
    results = [run([aoai_ft, "validate", str(path), "--json"], env) for _ in range(runs)]
    best = min(results)
    report = json.loads(best[2])["files"][0]
    size = path.stat().st_size / 1e6
    row = {"file": path.name, "MB": size, "examples": report["examples"], "valid": report["ok"], "best_s": best[0],
           "MB_per_s": size / best[0], "median_MB_per_s": size / statistics.median(r[0] for r in results),
           "peak_rss_mb": max(r[1] for r in results)}
    print(json.dumps(row), flush=True)
    return row


def long_line(megabytes: int, runs: int, env: dict[str, str], aoai_ft: str) -> dict:
    """Peak memory with one line of `megabytes` MB, next to the sample file alone."""
    path = long_line_file(megabytes)
    sample = ROOT / "datasets" / "training_set.jsonl"
    baseline = [run([aoai_ft, "validate", str(sample), "--json"], env) for _ in range(runs)]
    results = [run([aoai_ft, "validate", str(path), "--json"], env) for _ in range(runs)]
    best = min(results)
    report = json.loads(best[2])["files"][0]
    sample_lines = sample.read_bytes().count(b"\n")
    row = {"file": path.name, "line_MB": megabytes, "best_s": best[0], "peak_rss_mb": max(r[1] for r in results),
           "sample_only_rss_mb": max(r[1] for r in baseline),
           "reported": [(e["line"], e["code"]) for e in report["errors"]],
           "expected": [(sample_lines + 1, "example_too_long")]}
    row["reported_as_expected"] = row["reported"] == row["expected"]
    print(json.dumps(row), flush=True)
    return row


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--sizes", type=int, nargs="*", default=[50_000])
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--seed-sizes", type=int, nargs="*", default=None,
                    help="sizes on which to run the (slow) lab cell too; default: the smallest size")
    ap.add_argument("--big-mb", type=int, default=512, help="size of the throughput/memory file (0: skip)")
    ap.add_argument("--long-line-mb", type=int, default=200, help="length of the one long line (0: skip)")
    args = ap.parse_args()

    sys.path.insert(0, str(ROOT))
    from pipeline.dataset.tokenizer import ensure_offline_vocab

    # This checkout's code (not whatever an editable install points at), compiled as an installed package is.
    subprocess.run([sys.executable, "-m", "compileall", "-q", str(ROOT / "pipeline")], check=True, stdout=subprocess.DEVNULL)
    env = dict(os.environ, TIKTOKEN_CACHE_DIR=str(ensure_offline_vocab(("o200k_base",))), PYTHONPATH=str(ROOT))
    aoai_ft = str(Path(sys.executable).with_name("aoai-ft"))
    seed_sizes = set(args.seed_sizes if args.seed_sizes is not None else [min(args.sizes, default=0)])
    rows = compare_with_lab_cell(args.sizes, seed_sizes, args.runs, env, aoai_ft)
    big = big_file(args.big_mb, max(1, min(args.runs, 3)), env, aoai_ft) if args.big_mb else None
    long = long_line(args.long_line_mb, max(1, min(args.runs, 3)), env, aoai_ft) if args.long_line_mb else None

    print(f"\ndate (UTC) {time.strftime('%Y-%m-%d %H:%M', time.gmtime())}, {os.cpu_count()} cores, load average "
          f"{', '.join(f'{x:.1f}' for x in os.getloadavg())}")
    if rows:
        print(f"\n{'examples':>9} {'MB':>6} {'lab cell s':>10} {'aoai-ft s':>9} {'ratio':>6} {'median ratio':>12} "
              f"{'CPU ratio':>9} {'lab RSS MB':>10} {'ours RSS MB':>11}  stats match")
        nan = float("nan")
        for r in rows:
            print(f"{r['examples']:>9,} {r['MB']:>6.1f} {r.get('seed_s', nan):>10.2f} {r['ours_s']:>9.2f} "
                  f"{r.get('ratio', nan):>5.1f}x {r.get('median_ratio', nan):>11.1f}x {r.get('cpu_ratio', nan):>8.1f}x "
                  f"{r.get('seed_rss_mb', nan):>10.0f} {r['ours_rss_mb']:>11.0f}  {r.get('stats_match', '-')}")
    if big:
        print(f"\n{big['MB']:.0f} MB ({big['examples']:,} examples, valid={big['valid']}): {big['best_s']:.2f} s, "
              f"{big['MB_per_s']:.0f} MB/s (median {big['median_MB_per_s']:.0f} MB/s), peak RSS {big['peak_rss_mb']:.0f} MB")
    if long:
        print(f"one {long['line_MB']} MB line: {long['best_s']:.2f} s, peak RSS {long['peak_rss_mb']:.0f} MB "
              f"(the sample file alone: {long['sample_only_rss_mb']:.0f} MB); reported {long['reported']}")
    ok = all(r.get("stats_match", True) and r["valid"] for r in rows)
    ok = ok and (big is None or big["valid"]) and (long is None or long["reported_as_expected"])
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())

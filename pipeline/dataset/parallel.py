"""Scan one file on every core: line-aligned chunks, taken on demand by this process and forked workers.

Many small chunks rather than one half per process, because the work per byte varies along a file and the
processes do not start (or get the CPU) at the same moment on a shared machine: whoever is free takes the next
chunk, so all of them finish within about one chunk of each other. The queue is a pipe filled with chunk
numbers before the fork; each worker sends back only its compact per-chunk results. Forked workers share the
tokenizer the parent already loaded (copy-on-write), so a worker costs no start-up. A worker that fails leaves
its chunks to this process, which scans whatever is missing.
"""
from __future__ import annotations

import os
import pickle
import signal
import struct
from collections.abc import Callable
from pathlib import Path

from pipeline.dataset.checks import ScanResult, skip_rest_of_line

CHUNK_BYTES = 256 * 1024  # ~250 typical examples: the processes end within ~10 ms; ~50 us of overhead each
MIN_CHUNKS_PER_WORKER = 4
MAX_CHUNKS = 2048  # their numbers (2 bytes each) fill one page: any pipe holds them before anyone reads
_INDEX = struct.Struct("<H")

Scan = Callable[[int, int, dict[str, int]], ScanResult]
"""scan(start, end, memo): the lines that start in [start, end); `memo` is shared by one process's chunks."""


def worker_count() -> int:
    """The cores this process may run on."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def chunk_bounds(path: Path, size: int, chunks: int) -> list[int]:
    """Offsets 0 = b0 < b1 < ... < size that start lines, about size/chunks apart. A line longer than a chunk is
    read (in bounded pieces) once, not once per chunk it spans."""
    bounds = [0]
    with open(path, "rb") as stream:
        for k in range(1, chunks):
            target = size * k // chunks
            if target <= bounds[-1]:
                continue
            stream.seek(target - 1)
            skip_rest_of_line(stream)  # ends the line holding byte target-1: the next one starts at >= target
            bound = stream.tell()
            if bound >= size:
                break
            bounds.append(bound)
    bounds.append(size)
    return bounds


def _take_chunks(queue: int, chunks: list[tuple[int, int]], scan: Scan) -> dict[int, ScanResult]:
    """Scan chunks taken from the queue until it is empty."""
    done: dict[int, ScanResult] = {}
    memo: dict[str, int] = {}
    while True:
        taken = os.read(queue, _INDEX.size)
        if not taken:
            return done
        (index,) = _INDEX.unpack(taken)
        done[index] = scan(*chunks[index], memo)


def _read_all(fd: int) -> bytes:
    with open(fd, "rb", closefd=False) as stream:
        return stream.read()


def _work_and_exit(queue: int, chunks: list[tuple[int, int]], scan: Scan, out: int) -> None:
    """A forked worker's whole life: scan chunks, send the results, exit without running the parent's
    clean-up (atexit handlers, buffered output): the parent owns those."""
    code = 1
    try:
        data = pickle.dumps(_take_chunks(queue, chunks, scan), protocol=pickle.HIGHEST_PROTOCOL)
        with open(out, "wb") as stream:
            stream.write(data)
        code = 0
    finally:
        os._exit(code)


def scan_in_parallel(path: Path, size: int, scan: Scan, workers: int,
                     meanwhile: Callable[[], None] | None = None) -> ScanResult:
    """`scan` over the whole file by this process and `workers - 1` forked ones; the same result, line numbers
    included, as one scan from start to end. `meanwhile` runs here once the workers have started (e.g. imports
    only this process needs): the queue gives it fewer chunks to make up for it."""
    bounds = chunk_bounds(path, size, min(MAX_CHUNKS, max(workers * MIN_CHUNKS_PER_WORKER, size // CHUNK_BYTES)))
    chunks = list(zip(bounds, bounds[1:]))
    queue, fill = os.pipe()
    try:
        numbers = b"".join(_INDEX.pack(i) for i in range(len(chunks)))
        while numbers:
            numbers = numbers[os.write(fill, numbers):]
    finally:
        os.close(fill)
    children: list[tuple[int, int]] = []
    try:
        for _ in range(workers - 1):
            results, out = os.pipe()
            try:
                pid = os.fork()
            except OSError:
                os.close(results)
                os.close(out)
                break
            if pid == 0:
                os.close(results)
                _work_and_exit(queue, chunks, scan, out)
            os.close(out)
            children.append((pid, results))
        if meanwhile is not None:
            meanwhile()
        done = _take_chunks(queue, chunks, scan)
        while children:
            pid, results = children[-1]
            data = _read_all(results)  # until the worker exits (EOF)
            children.pop()
            os.close(results)
            _, status = os.waitpid(pid, 0)
            if os.waitstatus_to_exitcode(status) == 0:
                done.update(pickle.loads(data))
            del data
    finally:
        os.close(queue)
        for pid, results in children:  # only left on an error (e.g. Ctrl-C) here: stop the workers too
            os.kill(pid, signal.SIGKILL)
            os.close(results)
            os.waitpid(pid, 0)
    merged = ScanResult()
    memo: dict[str, int] = {}
    for index, chunk in enumerate(chunks):  # popped: each chunk's counts are held once, not twice
        merged.extend(done.pop(index) if index in done else scan(*chunk, memo))  # scan: a failed worker's chunks
    return merged

"""Scan one file on every core: line-aligned chunks, taken on demand by this process and forked workers.

Many small chunks rather than one half per process, because the work per byte varies along a file and the
processes do not start (or get the CPU) at the same moment on a shared machine: whoever is free takes the next
chunk, so all of them finish within about one chunk of each other. The queue is a counter in shared memory;
workers are multiprocessing's forked processes, each sending back only its compact per-chunk results through a
pipe. Forked workers share the tokenizer the parent already loaded (copy-on-write), so a worker costs no start-up.
A worker that fails leaves its chunks to this process, which scans whatever is missing; an error here (Ctrl-C)
kills the workers.
"""
from __future__ import annotations

import multiprocessing
import multiprocessing.context
import multiprocessing.process
import os
from collections.abc import Callable
from multiprocessing.connection import Connection
from pathlib import Path

from pipeline.dataset.checks import ScanResult, skip_rest_of_line

CHUNK_BYTES = 256 * 1024  # ~250 typical examples: the processes end within ~10 ms; ~50 us of overhead each
MIN_CHUNKS_PER_WORKER = 4
MAX_CHUNKS = 2048

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


class _Queue:
    """The next chunk number, shared by all processes (a counter in shared memory, under its lock)."""

    def __init__(self, context: multiprocessing.context.BaseContext, chunks: int) -> None:
        self._next = context.Value("i", 0)
        self._chunks = chunks

    def take(self) -> int | None:
        with self._next.get_lock():
            index = self._next.value
            if index >= self._chunks:
                return None
            self._next.value = index + 1
            return index

    def empty(self) -> None:
        """Leave nothing for anyone (after an error here: the workers finish their chunk and stop)."""
        with self._next.get_lock():
            self._next.value = self._chunks


def _take_chunks(queue: _Queue, chunks: list[tuple[int, int]], scan: Scan) -> dict[int, ScanResult]:
    """Scan chunks taken from the queue until it is empty."""
    done: dict[int, ScanResult] = {}
    memo: dict[str, int] = {}
    while (index := queue.take()) is not None:
        done[index] = scan(*chunks[index], memo)
    return done


def _work(queue: _Queue, chunks: list[tuple[int, int]], scan: Scan, results: Connection) -> None:
    """A forked worker's life: scan chunks, send their compact results back (pickled by the connection)."""
    results.send(_take_chunks(queue, chunks, scan))
    results.close()


def scan_in_parallel(path: Path, size: int, scan: Scan, workers: int,
                     meanwhile: Callable[[], None] | None = None) -> ScanResult:
    """`scan` over the whole file by this process and `workers - 1` forked ones; the same result, line numbers
    included, as one scan from start to end. `meanwhile` runs here once the workers have started (e.g. imports
    only this process needs): the queue gives it fewer chunks to make up for it."""
    bounds = chunk_bounds(path, size, min(MAX_CHUNKS, max(workers * MIN_CHUNKS_PER_WORKER, size // CHUNK_BYTES)))
    chunks = list(zip(bounds, bounds[1:]))
    context = multiprocessing.get_context("fork")  # the workers share the loaded tokenizer, copy-on-write
    queue = _Queue(context, len(chunks))
    running: list[tuple[multiprocessing.process.BaseProcess, Connection]] = []
    try:
        for _ in range(workers - 1):
            receive, send = context.Pipe(duplex=False)
            worker = context.Process(target=_work, args=(queue, chunks, scan, send), daemon=True)
            try:
                worker.start()
            except OSError:  # no process to spare: this one scans more
                break
            finally:
                send.close()  # the worker's end: when it exits, recv() here sees EOF
            running.append((worker, receive))
        if meanwhile is not None:
            meanwhile()
        done = _take_chunks(queue, chunks, scan)
        while running:
            worker, receive = running[-1]
            try:
                done.update(receive.recv())
            except (EOFError, OSError):  # the worker failed: its chunks are scanned below
                pass
            running.pop()
            receive.close()
            worker.join()
    finally:
        queue.empty()
        for worker, receive in running:  # only left on an error here (e.g. Ctrl-C): stop the workers too
            worker.kill()
            worker.join()
            receive.close()
    merged = ScanResult()
    memo: dict[str, int] = {}
    for index, chunk in enumerate(chunks):  # popped: each chunk's counts are held once, not twice
        merged.extend(done.pop(index) if index in done else scan(*chunk, memo))  # scan: a failed worker's chunks
    return merged

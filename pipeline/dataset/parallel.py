"""Scan one file on every core: line-aligned chunks, taken on demand by this process and forked workers.

Many small chunks rather than one half per process, because the work per byte varies along a file and the
processes do not start (or get the CPU) at the same moment on a shared machine: whoever is free takes the next
chunk, so all of them finish within about one chunk of each other. The queue is a pipe filled with the chunk
numbers before any worker starts: a two-byte read takes the next one, atomically, in whichever process reads it,
and end-of-file means none is left. Workers are `os.fork()`ed children that share the tokenizer this process
already loaded (copy-on-write), so a worker costs no start-up, and send back only their compact per-chunk results,
pickled through a pipe of their own. Plain `os` calls rather than `multiprocessing`, whose import alone took
longer than a worker's start. A worker that fails leaves its chunks to this process, which scans whatever is
missing; an error here (Ctrl-C) kills the workers, and a worker whose parent was killed stops at its next chunk.
"""
from __future__ import annotations

import os
import pickle
import signal
import sys
from array import array
from collections.abc import Callable
from pathlib import Path
from typing import NoReturn

from pipeline.dataset.checks import ScanResult, skip_rest_of_line

CHUNK_BYTES = 256 * 1024  # ~250 typical examples: the processes end within ~10 ms; ~50 us of overhead each
MIN_CHUNKS_PER_WORKER = 4
MAX_CHUNKS = 2048  # two bytes each: the whole queue is 4 KB, what a pipe's buffer holds (Linux: at least a page)
PIPE_ATOMIC = 512  # POSIX's smallest PIPE_BUF: a non-blocking write of this size goes in whole or not at all

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
    """The chunk numbers not taken yet: a pipe written whole before any worker starts, read by every process."""

    def __init__(self, chunks: int) -> None:
        self._owner = os.getpid()
        self._read, write = os.pipe()
        numbers = array("H", range(chunks)).tobytes()
        os.set_blocking(write, False)  # no one reads yet: a write that does not fit must fail, not wait
        try:
            for at in range(0, len(numbers), PIPE_ATOMIC):
                os.write(write, numbers[at:at + PIPE_ATOMIC])
        except BlockingIOError:  # a pipe smaller than the queue: the chunks left out are scanned at the end, here
            pass
        finally:
            os.close(write)  # no writer left: an empty queue reads as end-of-file in every process

    def take(self) -> int | None:
        """The next chunk number; None when none is left, or in a worker whose parent has died (killed, say):
        an orphan must not go on scanning the rest of the file for no one."""
        if os.getpid() != self._owner and os.getppid() != self._owner:
            return None
        number = os.read(self._read, 2)
        return int.from_bytes(number, sys.byteorder) if number else None

    def empty(self) -> None:
        """Leave nothing for anyone (after an error here: the workers finish their chunk and stop)."""
        while os.read(self._read, 4096):
            pass

    def close(self) -> None:
        os.close(self._read)


def _take_chunks(queue: _Queue, chunks: list[tuple[int, int]], scan: Scan) -> dict[int, ScanResult]:
    """Scan chunks taken from the queue until it is empty."""
    done: dict[int, ScanResult] = {}
    memo: dict[str, int] = {}
    while (index := queue.take()) is not None:
        done[index] = scan(*chunks[index], memo)
    return done


def _work(queue: _Queue, chunks: list[tuple[int, int]], scan: Scan, results: int) -> None:
    """A forked worker's life: scan chunks, send their compact results back pickled through `results`."""
    with open(results, "wb") as stream:
        pickle.dump(_take_chunks(queue, chunks, scan), stream, pickle.HIGHEST_PROTOCOL)


def _worker_main(queue: _Queue, chunks: list[tuple[int, int]], scan: Scan, results: int) -> NoReturn:
    """Run `_work` in the child and leave without this program's exit handlers and buffered output (they belong to
    the parent). A failure, Ctrl-C included, only ends the worker: the parent scans its chunks again."""
    code = 1
    try:
        _work(queue, chunks, scan, results)
        code = 0
    finally:
        os._exit(code)


def _start_worker(queue: _Queue, chunks: list[tuple[int, int]], scan: Scan) -> tuple[int, int] | None:
    """Fork a worker: (its pid, the read end of its results pipe), or None when no process can be made."""
    receive, send = os.pipe()
    try:
        pid = os.fork()
    except OSError:
        os.close(receive)
        os.close(send)
        return None
    if pid == 0:
        os.close(receive)
        _worker_main(queue, chunks, scan, send)
    os.close(send)  # the worker's end: when it exits, reading here sees end-of-file
    return pid, receive


def _receive(pid: int, receive: int) -> dict[int, ScanResult]:
    """A worker's results (none if it failed), once it has ended. An error here while waiting (Ctrl-C) kills it
    first: the caller sees that error, and no worker goes on alone."""
    try:
        with open(receive, "rb") as stream:
            return pickle.load(stream)
    except (EOFError, OSError, ValueError, pickle.UnpicklingError):  # it ended before sending all
        return {}
    except BaseException:
        os.kill(pid, signal.SIGKILL)
        raise
    finally:
        os.waitpid(pid, 0)


def scan_in_parallel(path: Path, size: int, scan: Scan, workers: int,
                     meanwhile: Callable[[], None] | None = None) -> ScanResult:
    """`scan` over the whole file by this process and `workers - 1` forked ones; the same result, line numbers
    included, as one scan from start to end. `meanwhile` runs here once the workers have started (e.g. imports
    only this process needs): the queue gives it fewer chunks to make up for it."""
    bounds = chunk_bounds(path, size, min(MAX_CHUNKS, max(workers * MIN_CHUNKS_PER_WORKER, size // CHUNK_BYTES)))
    chunks = list(zip(bounds, bounds[1:]))
    queue = _Queue(len(chunks))
    running: list[tuple[int, int]] = []  # (pid, results pipe) of each worker not yet heard from
    try:
        for _ in range(workers - 1):
            worker = _start_worker(queue, chunks, scan)
            if worker is None:  # no process to spare: this one scans more
                break
            running.append(worker)
        if meanwhile is not None:
            meanwhile()
        done = _take_chunks(queue, chunks, scan)
        while running:
            done.update(_receive(*running.pop()))  # a failed worker's chunks are scanned below
    finally:
        queue.empty()
        queue.close()
        for pid, receive in running:  # only left on an error here (e.g. Ctrl-C): stop the workers too
            os.kill(pid, signal.SIGKILL)
            os.waitpid(pid, 0)
            os.close(receive)
    merged = ScanResult()
    memo: dict[str, int] = {}
    for index, chunk in enumerate(chunks):  # popped: each chunk's counts are held once, not twice
        merged.extend(done.pop(index) if index in done else scan(*chunk, memo))  # scan: a failed worker's chunks
    return merged

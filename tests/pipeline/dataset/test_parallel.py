"""The chunked scan: line-aligned chunks, handed out on demand to this process and forked workers, merged
back in file order with physical line numbers."""
from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

from pipeline.dataset.checks import ScanResult, scan_range
from pipeline.dataset.counting import get_counter
from pipeline.dataset.parallel import chunk_bounds, scan_in_parallel
from tests.pipeline.dataset.helpers import good_lines, write_lines


def _scan_by_pid(start: int, end: int, memo: dict[str, int]) -> ScanResult:
    """A chunk's stand-in result: one line, with a warning naming the process that scanned it."""
    result = ScanResult(lines=1)
    result.warnings.append((1, "scanned_by", str(os.getpid())))
    return result


def _line_starts(path: Path) -> set[int]:
    data = path.read_bytes()
    return {0} | {i + 1 for i, byte in enumerate(data) if byte == 10}


def test_chunk_bounds_are_line_starts_and_a_long_line_is_one_chunk(tmp_path: Path) -> None:
    lines: list = good_lines(40)
    lines[20] = {"messages": [{"role": "user", "content": "x" * 50_000}, {"role": "assistant", "content": "y"}]}
    path = write_lines(tmp_path / "long.jsonl", lines)
    size = path.stat().st_size
    bounds = chunk_bounds(path, size, 64)
    assert bounds[0] == 0 and bounds[-1] == size
    assert bounds == sorted(set(bounds))
    assert set(bounds) <= _line_starts(path) | {size}
    data = path.read_bytes()
    long_start = data.index(b'{"messages": [{"role": "user", "content": "xxx')
    long_end = data.index(b"\n", long_start) + 1
    assert long_end - long_start > 3 * size // 64  # the line spans several chunk targets ...
    assert not any(long_start < b < long_end for b in bounds)  # ... but no chunk starts inside it


def test_chunks_merge_to_the_serial_scan(tmp_path: Path) -> None:
    lines: list = good_lines(300)
    lines[0] = b"\xef\xbb\xbf" + b'{"messages": [{"role": "user", "content": "q"}, {"role": "assistant", "content": "a"}]}'
    lines[7] = "{oops"
    lines[150:150] = ["", "  "]
    lines[-1] = {"messages": [{"role": "robot", "content": "x"}]}
    path = write_lines(tmp_path / "mixed.jsonl", lines)
    size = path.stat().st_size
    counter = get_counter("o200k_base")

    def scan(start: int, end: int, memo: dict[str, int]) -> ScanResult:
        return scan_range(str(path), start, end, counter, 65_536, memo=memo)

    serial = scan(0, size, {})
    forked = scan_in_parallel(path, size, scan, workers=2)
    assert (forked.lines, forked.examples, forked.errors, forked.warnings) == \
        (serial.lines, serial.examples, serial.errors, serial.warnings)
    assert (list(forked.totals), list(forked.assistants)) == (list(serial.totals), list(serial.assistants))
    assert [code for _, code, _ in serial.errors] == ["invalid_json", "unrecognized_role", "example_missing_assistant_message"]
    assert [line for line, _, _ in serial.errors] == [8, 302, 302]
    assert serial.warnings[0][:2] == (1, "utf8_bom")


def test_a_busy_process_leaves_the_chunks_to_the_worker(tmp_path: Path) -> None:
    """Chunks go to whoever is free: while this process runs `meanwhile`, the worker takes them all."""
    path = write_lines(tmp_path / "many.jsonl", good_lines(200))
    size = path.stat().st_size

    merged = scan_in_parallel(path, size, _scan_by_pid, workers=2, meanwhile=lambda: time.sleep(1.0))
    by = [pid for _, _, pid in merged.warnings]
    assert len(by) == len(chunk_bounds(path, size, 8)) - 1 == 8
    assert str(os.getpid()) not in by  # the worker emptied the queue during the second this process was busy
    assert [line for line, _, _ in merged.warnings] == list(range(1, 9))  # chunk i's line 1 is line i+1 overall


def test_an_error_here_stops_the_worker(tmp_path: Path) -> None:
    """Ctrl-C (or any error) in this process must not leave a worker scanning on its own."""
    path = write_lines(tmp_path / "slow.jsonl", good_lines(50))
    pids = tmp_path / "pids"

    def scan(start: int, end: int, memo: dict[str, int]) -> ScanResult:
        with open(pids, "a") as out:
            out.write(f"{os.getpid()}\n")
        time.sleep(30)
        return ScanResult()

    def interrupted() -> None:
        deadline = time.monotonic() + 10
        while not (pids.exists() and pids.read_text().strip()) and time.monotonic() < deadline:  # a worker's chunk
            time.sleep(0.01)
        raise KeyboardInterrupt

    started = time.monotonic()
    with pytest.raises(KeyboardInterrupt):
        scan_in_parallel(path, path.stat().st_size, scan, workers=2, meanwhile=interrupted)
    assert time.monotonic() - started < 15
    (worker,) = {int(pid) for pid in pids.read_text().split()}
    assert worker != os.getpid()
    with pytest.raises(ProcessLookupError):  # killed and reaped
        os.kill(worker, 0)


def test_chunks_of_a_worker_that_dies_are_scanned_here(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The worker takes every chunk (this process is busy), then dies before sending: nothing is lost."""
    import pipeline.dataset.parallel as parallel_module

    path = write_lines(tmp_path / "many.jsonl", good_lines(200))
    size = path.stat().st_size
    taken = tmp_path / "taken"

    def work_then_die(queue, chunks, scan, results) -> None:
        taken.write_text(str(len(parallel_module._take_chunks(queue, chunks, scan))))
        os._exit(3)

    monkeypatch.setattr(parallel_module, "_work", work_then_die)
    merged = scan_in_parallel(path, size, _scan_by_pid, workers=2, meanwhile=lambda: time.sleep(1.0))
    assert int(taken.read_text()) == 8  # the worker had them all ...
    assert [pid for _, _, pid in merged.warnings] == [str(os.getpid())] * 8  # ... and this process redid them
    assert [line for line, _, _ in merged.warnings] == list(range(1, 9))


def test_a_worker_that_raises_ends_quietly_and_its_chunks_are_scanned_here(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capfd: pytest.CaptureFixture[str]) -> None:
    """A bug or Ctrl-C in a worker ends only the worker: no traceback of its own, and nothing is lost."""
    import pipeline.dataset.parallel as parallel_module

    path = write_lines(tmp_path / "many.jsonl", good_lines(200))
    size = path.stat().st_size

    def work_then_raise(queue, chunks, scan, results) -> None:
        parallel_module._take_chunks(queue, chunks, scan)
        raise RuntimeError("worker bug")

    monkeypatch.setattr(parallel_module, "_work", work_then_raise)
    merged = scan_in_parallel(path, size, _scan_by_pid, workers=2, meanwhile=lambda: time.sleep(1.0))
    assert [pid for _, _, pid in merged.warnings] == [str(os.getpid())] * 8
    assert "worker bug" not in capfd.readouterr().err


def test_a_worker_leaves_this_process_output_and_exit_handlers_alone(tmp_path: Path) -> None:
    """A forked worker inherits this process's unwritten output and its exit handlers; it must run neither, or a
    report would be printed twice."""
    import subprocess
    import sys

    path = write_lines(tmp_path / "many.jsonl", good_lines(200))
    program = f"""
import atexit, sys
from pathlib import Path
from pipeline.dataset.checks import ScanResult
from pipeline.dataset.parallel import scan_in_parallel
atexit.register(lambda: print("exit handler"))
sys.stdout.write("buffered before the fork;")
path = Path({str(path)!r})
merged = scan_in_parallel(path, path.stat().st_size, lambda start, end, memo: ScanResult(lines=1), workers=3)
print(merged.lines)
"""
    done = subprocess.run([sys.executable, "-c", program], capture_output=True, text=True, timeout=60,
                          cwd=Path(__file__).resolve().parents[3])
    assert done.returncode == 0, done.stderr
    assert done.stdout == "buffered before the fork;12\nexit handler\n"


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="reads process states from /proc")
def test_a_worker_whose_parent_is_killed_stops_at_its_next_chunk(tmp_path: Path) -> None:
    """`kill -9` of the validating process must not leave its worker scanning the rest of the file alone."""
    import signal
    import subprocess
    import sys

    path = write_lines(tmp_path / "many.jsonl", good_lines(400))
    pids = tmp_path / "pids"
    program = f"""
import os, time
from pathlib import Path
from pipeline.dataset.checks import ScanResult
from pipeline.dataset.parallel import scan_in_parallel

def scan(start, end, memo):
    with open({str(pids)!r}, "a") as out:
        out.write(f"{{os.getpid()}}\\n")
    time.sleep(0.5)
    return ScanResult(lines=1)

path = Path({str(path)!r})
scan_in_parallel(path, path.stat().st_size, scan, workers=2, meanwhile=lambda: time.sleep(60))
"""
    parent = subprocess.Popen([sys.executable, "-c", program], cwd=Path(__file__).resolve().parents[3])
    try:
        deadline = time.monotonic() + 30
        while not (pids.exists() and pids.read_text().strip()) and time.monotonic() < deadline:
            time.sleep(0.02)
        (worker,) = {int(pid) for pid in pids.read_text().split()}  # only the worker scans: the parent sleeps
        parent.send_signal(signal.SIGKILL)
        parent.wait(timeout=10)
        deadline = time.monotonic() + 6  # one chunk (0.5 s) and the exit, with room for a slow machine
        while time.monotonic() < deadline and _alive(worker):
            time.sleep(0.05)
        scanned = len(pids.read_text().split())
        assert not _alive(worker), "the orphaned worker is still scanning"
        assert len(chunk_bounds(path, path.stat().st_size, 8)) - 1 == 8
        assert scanned <= 3  # the chunk it had when its parent died (and any taken meanwhile), not all 8
    finally:
        parent.kill()


def _alive(pid: int) -> bool:
    """True while `pid` runs (a zombie no longer counts: the orphan's new parent reaps it in its own time)."""
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().rsplit(")", 1)[1].split()[0] != "Z"
    except FileNotFoundError:
        return False


@pytest.mark.skipif(not hasattr(__import__("fcntl"), "F_SETPIPE_SZ"), reason="needs Linux's F_SETPIPE_SZ")
def test_a_queue_larger_than_the_pipe_neither_hangs_nor_loses_a_chunk(tmp_path: Path,
                                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    """Where a pipe holds fewer chunk numbers than the file has chunks (a small pipe buffer), the numbers that do
    not fit are not waited for: those chunks are scanned at the end, here."""
    import fcntl

    import pipeline.dataset.parallel as parallel_module

    real_pipe = os.pipe

    def one_page_pipe() -> tuple[int, int]:
        read, write = real_pipe()
        fcntl.fcntl(write, fcntl.F_SETPIPE_SZ, 4096)  # the smallest a pipe gets: 2,048 chunk numbers
        return read, write

    path = write_lines(tmp_path / "many.jsonl", good_lines(3000))
    size = path.stat().st_size
    monkeypatch.setattr(parallel_module.os, "pipe", one_page_pipe)
    monkeypatch.setattr(parallel_module, "MAX_CHUNKS", 3000)
    monkeypatch.setattr(parallel_module, "MIN_CHUNKS_PER_WORKER", 1500)  # 3,000 chunks of one line each
    merged = scan_in_parallel(path, size, _scan_by_pid, workers=2)
    assert merged.lines == len(chunk_bounds(path, size, 3000)) - 1 > 2048
    assert [line for line, _, _ in merged.warnings] == list(range(1, merged.lines + 1))  # every chunk, in order
    assert str(os.getpid()) in {pid for _, _, pid in merged.warnings[2048:]}  # the ones left out: scanned here


def test_ctrl_c_while_waiting_for_a_worker_stops_it_and_is_what_the_caller_sees(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """An interrupt while this process waits for a worker's results ends as that interrupt (no other error on top),
    with the worker killed and reaped at once rather than left to finish the file."""
    import pipeline.dataset.parallel as parallel_module

    path = write_lines(tmp_path / "many.jsonl", good_lines(200))
    pids = tmp_path / "pids"

    here = os.getpid()

    def scan(start: int, end: int, memo: dict[str, int]) -> ScanResult:
        if os.getpid() != here:
            with open(pids, "a") as out:
                out.write(f"{os.getpid()}\n")
            time.sleep(5)  # a worker's chunk: long enough that only a kill ends it quickly
        return ScanResult()

    def interrupted_load(stream):
        raise KeyboardInterrupt

    monkeypatch.setattr(parallel_module.pickle, "load", interrupted_load)
    started = time.monotonic()
    with pytest.raises(KeyboardInterrupt):  # raised here while the worker is inside its first chunk
        scan_in_parallel(path, path.stat().st_size, scan, workers=2, meanwhile=lambda: time.sleep(0.3))
    assert time.monotonic() - started < 4  # not the 5 s of the worker's chunk: it was killed
    workers = {int(pid) for pid in pids.read_text().split()}
    assert len(workers) == 1 and here not in workers
    with pytest.raises(ProcessLookupError):  # killed and reaped
        os.kill(workers.pop(), 0)

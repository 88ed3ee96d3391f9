"""`aoai-ft` for tests that run many commands: the same CLI in a process of its own, without paying ~1 CPU-second
of imports (the openai SDK alone builds ~700 pydantic models) every time.

A server process imports the CLI's third-party dependencies once. `aoai-ft` here is a small launcher script: it
hands the server its argv, environment, working directory, umask and every open file descriptor (stdin, stdout,
stderr, and e.g. a `<(...)` process substitution), the server forks a fresh process that takes all of them and runs
`pipeline.cli.main()` as the installed console script does, and the launcher forwards signals to it and exits with
its status (or dies of its signal). A launcher run by another user execs the installed script. Tests that measure
the CLI process itself (its memory, its start-up, a kill -9 of it) run the installed script.

Only third-party packages are imported before the fork, and none of them reads the environment at import time in a
way the CLI depends on (openai reads OPENAI_LOG, which the hermetic test environment removes; matplotlib finds its
font cache through the server's HOME; numpy's OpenBLAS gets one thread, as `aoai-ft validate` gives it); the
project's own modules are imported in the forked process, after the caller's environment is in place. One
exception: the server loads the token counters (`pipeline.dataset.counting`, which reads no environment on import;
`get_counter` reads AOAI_FT_TOKEN_COUNTER on each call and keeps a counter per backend), because loading one and
building splintr's merge table costs every command that counts 0.06-0.2 CPU-s.
"""
from __future__ import annotations

import array
import atexit
import fcntl
import io
import json
import os
import select
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

from tests.paths import AOAI_FT

PRELOAD = ("click", "pydantic", "httpx", "openai", "azure.identity", "azure.core.pipeline.policies",
           "azure.mgmt.cognitiveservices", "tenacity", "orjson", "rich.console", "rich.progress", "rich.table",
           "fastapi", "starlette.applications", "uvicorn", "numpy", "matplotlib", "matplotlib.figure",
           "matplotlib.backends.backend_agg")
"""Imported once by the server: what the data-plane, ARM and emulator commands spend most of their start-up on, and
what `report` and `eval --png` spend ~0.8 CPU-s on (matplotlib, numpy)."""

FORWARDED = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP, signal.SIGQUIT, signal.SIGUSR1, signal.SIGUSR2)
MAX_FDS = 64
_PARK = 1024  # above any descriptor number a launcher passes

LAUNCHER = '''#!{python} -IS
# aoai-ft through the test suite's warm CLI server ({socket}); see tests/warm_cli.py.
import array, json, os, signal, socket, sys, time
def is_open(fd):
    try:
        os.fstat(fd)
    except OSError:
        return False
    return True
if os.stat({folder!r}).st_uid != os.getuid():  # another user: the server's files and modules are not theirs
    os.execv({installed!r}, [{installed!r}, *sys.argv[1:]])
deadline = time.monotonic() + 60
while not os.path.exists({socket!r}):  # the server appears once its imports are done
    if time.monotonic() > deadline:
        sys.exit("aoai-ft (warm test launcher): the server at {socket} did not start")
    time.sleep(0.01)
sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
sock.connect({socket!r})
fds = [fd for fd in sorted(int(n) for n in os.listdir("/proc/self/fd")) if fd != sock.fileno() and is_open(fd)]
umask = os.umask(0o022)
os.umask(umask)
request = json.dumps({{"argv": sys.argv, "env": dict(os.environ), "cwd": os.getcwd(), "fds": fds,
                       "umask": umask}}).encode()
sock.sendmsg([len(request).to_bytes(4, "big"), request],
             [(socket.SOL_SOCKET, socket.SCM_RIGHTS, array.array("i", fds))])
reader = sock.makefile("rb")
pid = int(reader.readline())
def forward(signum, frame):
    try:
        os.kill(pid, signum)
    except ProcessLookupError:
        pass
for signum in {forwarded}:
    signal.signal(signum, forward)
status = int(reader.readline())
if os.WIFSIGNALED(status):
    signum = os.WTERMSIG(status)
    signal.signal(signum, signal.SIG_DFL)
    os.kill(os.getpid(), signum)
os._exit(os.waitstatus_to_exitcode(status))
'''


def _recv_request(conn: socket.socket) -> tuple[dict, list[int]]:
    """The launcher's request and the descriptors that came with it."""
    fds = array.array("i")
    size_bytes, ancdata, _, _ = conn.recvmsg(4, socket.CMSG_SPACE(MAX_FDS * fds.itemsize))
    for level, kind, data in ancdata:
        if level == socket.SOL_SOCKET and kind == socket.SCM_RIGHTS:
            fds.frombytes(data[: len(data) - (len(data) % fds.itemsize)])
    size = int.from_bytes(size_bytes, "big")
    body = b""
    while len(body) < size:
        chunk = conn.recv(size - len(body))
        if not chunk:
            raise ConnectionError("launcher went away")
        body += chunk
    return json.loads(body), list(fds)


def _std_stream(fd: int, mode: str) -> io.TextIOWrapper | None:
    """The text stream Python itself would open on `fd` at start-up (None when it is closed; line-buffered stdout
    only on a terminal; stderr always line-buffered and backslash-replacing)."""
    try:
        raw = io.FileIO(fd, mode, closefd=False)
    except OSError:
        return None
    raw.name = ("<stdin>", "<stdout>", "<stderr>")[fd]  # type: ignore[misc]  # as the interpreter names them
    if mode == "r":
        return io.TextIOWrapper(io.BufferedReader(raw), encoding="utf-8", errors="strict")
    interactive = os.isatty(fd)
    return io.TextIOWrapper(io.BufferedWriter(raw), encoding="utf-8",
                            errors="backslashreplace" if fd == 2 else "strict",
                            line_buffering=interactive or fd == 2, write_through=fd == 2)


def _become_the_command(request: dict, received: list[int]) -> None:
    """In the forked process: take the launcher's descriptors, environment and directory, then run the CLI."""
    wanted = request["fds"]
    # park what came above any number the launcher used, close everything else, then give each its old number
    parked = [fcntl.fcntl(fd, fcntl.F_DUPFD, _PARK) for fd in received]
    os.closerange(0, _PARK)
    for target, fd in zip(wanted, parked):
        os.dup2(fd, target, inheritable=True)
    for fd in parked:
        os.close(fd)
    os.chdir(request["cwd"])
    os.umask(request["umask"])
    os.environ.clear()
    os.environ.update(request["env"])
    sys.argv = [os.path.basename(request["argv"][0]), *request["argv"][1:]]
    for signum in FORWARDED:
        signal.signal(signum, signal.default_int_handler if signum == signal.SIGINT else signal.SIG_DFL)
    signal.signal(signal.SIGPIPE, signal.SIG_IGN)  # as the interpreter sets it
    sys.stdin, sys.stdout, sys.stderr = (_std_stream(0, "r"), _std_stream(1, "w"), _std_stream(2, "w"))
    sys.__stdin__, sys.__stdout__, sys.__stderr__ = sys.stdin, sys.stdout, sys.stderr
    code = _run_cli()
    _exit_like_the_interpreter(code)


def _run_cli() -> int | BaseException:
    """`pipeline.cli.main()` as the console script runs it: its exit code, or the exception that escaped it."""
    try:
        from pipeline.cli import main

        main()
    except SystemExit as exc:
        if exc.code is None:
            return 0
        if isinstance(exc.code, int):
            return exc.code
        print(exc.code, file=sys.stderr)
        return 1
    except BaseException as exc:  # noqa: BLE001 - the interpreter would print it; so do we
        return exc
    return 0


def _exit_like_the_interpreter(code: int | BaseException) -> None:
    """Print an escaped exception's traceback, join threads, run atexit handlers, flush, exit (or die of
    SIGINT after an escaped KeyboardInterrupt, as Python does)."""
    import traceback

    if isinstance(code, BaseException):
        traceback.print_exception(code)
    threading._shutdown()  # type: ignore[attr-defined]  # non-daemon threads, as at interpreter exit
    atexit._run_exitfuncs()
    for stream in (sys.stdout, sys.stderr):
        try:
            if stream is not None:
                stream.flush()
        except (OSError, ValueError):
            pass
    if isinstance(code, KeyboardInterrupt):
        signal.signal(signal.SIGINT, signal.SIG_DFL)
        os.kill(os.getpid(), signal.SIGINT)
    os._exit(1 if isinstance(code, BaseException) else code & 0xFF)


def _supervise(conn: socket.socket, request: dict, received: list[int]) -> None:
    """In a forked supervisor: fork the command, tell the launcher its pid, wait, report its status. If the
    launcher goes away (killed), the command is killed too."""
    pid = os.fork()
    if pid == 0:
        conn.close()
        _become_the_command(request, received)
    for fd in received:
        os.close(fd)
    conn.sendall(f"{pid}\n".encode())
    pidfd = os.pidfd_open(pid)
    poller = select.poll()
    poller.register(pidfd, select.POLLIN)
    poller.register(conn, select.POLLIN | select.POLLHUP)
    while True:
        ready = dict(poller.poll())
        if pidfd in ready:
            break
        if conn.fileno() in ready:  # the launcher closed its end: it died before its command
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            break
    _, status = os.waitpid(pid, 0)
    try:
        conn.sendall(f"{status}\n".encode())
    except OSError:
        pass
    os._exit(0)


def _reap(block_for: float = 0.0) -> None:
    """Wait for finished supervisors (so their commands' CPU time is counted in this process's children), for up
    to `block_for` seconds if some still run."""
    deadline = time.monotonic() + block_for
    while True:
        try:
            pid, _ = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            if time.monotonic() >= deadline:
                return
            time.sleep(0.01)


def serve(path: str) -> None:
    """Import the dependencies, then fork a supervisor for every launcher that connects; stop on SIGTERM or when
    the process that started the server is gone."""
    import gc
    import importlib

    gc.disable()  # imports allocate much and free little: no full collections while they run
    os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")  # no BLAS thread pool to lose in every fork
    for name in PRELOAD:
        importlib.import_module(name)
    from pipeline.dataset.counting import SPECIAL_TOKENS, get_counter

    for encoding in SPECIAL_TOKENS:
        for backend in ("rs-bpe", "splintr"):
            get_counter(encoding, backend)
    gc.freeze()  # what every command shares is never walked by their collections (nor copied by them)
    gc.enable()
    parent = os.getppid()
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    server.bind(path + ".starting")
    server.listen(64)
    server.settimeout(0.5)
    os.chmod(path + ".starting", 0o777)
    os.rename(path + ".starting", path)  # launchers wait for this name: it appears ready to accept
    try:
        while os.getppid() == parent:
            _reap()
            try:
                conn, _ = server.accept()
            except TimeoutError:
                continue
            conn.settimeout(None)
            try:
                request, received = _recv_request(conn)
            except (OSError, ValueError):
                conn.close()
                continue
            if os.fork() == 0:
                server.close()
                signal.signal(signal.SIGTERM, signal.SIG_DFL)
                _supervise(conn, request, received)
            conn.close()
            for fd in received:
                os.close(fd)
    finally:
        _reap(block_for=5.0)
        shutil.rmtree(os.path.dirname(path), ignore_errors=True)  # also when the run that started it was killed


class WarmCli:
    """The server process and the folder holding its socket and `aoai-ft` launcher (open to every user: a test
    may run the launcher as another user)."""

    def __init__(self) -> None:
        self.folder = Path(tempfile.mkdtemp(prefix="aoai-ft-warm-cli-"))
        self.folder.chmod(0o755)
        self.bin = self.folder / "bin"
        self.bin.mkdir(mode=0o755)
        self.socket = str(self.folder / "cli.sock")
        self.executable = self.bin / "aoai-ft"
        env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": os.environ.get("HOME", "/tmp"),
               "LANG": "C.UTF-8"}
        self.process = subprocess.Popen([sys.executable, "-m", "tests.warm_cli", self.socket], env=env,
                                        cwd=Path(__file__).resolve().parent.parent, stdin=subprocess.DEVNULL,
                                        stdout=subprocess.DEVNULL)
        self.executable.write_text(LAUNCHER.format(python=sys.executable, socket=self.socket, folder=str(self.folder),
                                                   installed=str(AOAI_FT),
                                                   forwarded=tuple(int(s) for s in FORWARDED)))
        self.executable.chmod(0o755)

    def close(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
        shutil.rmtree(self.folder, ignore_errors=True)


SHARED = "AOAI_FT_TEST_WARM_CLI"
"""Set by the test run's controlling process to the launcher of a server all its pytest-xdist workers share."""

_server: WarmCli | None = None


def start_shared() -> WarmCli:
    """A server for this process and the processes it starts (they find its launcher in $AOAI_FT_TEST_WARM_CLI);
    it loads in the background while they start."""
    server = WarmCli()
    os.environ[SHARED] = str(server.executable)
    return server


def warm_aoai_ft() -> Path:
    """The warm `aoai-ft` launcher: the shared one, or this process's own, started on first use and stopped when
    the process exits."""
    global _server
    shared = os.environ.get(SHARED)
    if shared and Path(shared).exists():
        return Path(shared)
    if _server is None or _server.process.poll() is not None:
        _server = WarmCli()
        atexit.register(_server.close)
    return _server.executable


if __name__ == "__main__":
    serve(sys.argv[1])

"""Run the emulator in a background thread (tests, the demo) or in the foreground (`aoai-ft emulator`)."""
from __future__ import annotations

from collections.abc import Callable

import socket
import threading
import time
from types import TracebackType

import uvicorn

from pipeline.emulator.app import create_app
from pipeline.emulator.clock import Clock
from pipeline.emulator.config import EmulatorConfig
from pipeline.emulator.prompt_stop import PromptStopServer
from pipeline.emulator.state import EmulatorState


def free_port(host: str = "127.0.0.1", port: int = 0) -> int:
    """A port the server can listen on at `host`: `port` itself, or any free one for 0. Found by binding it as the
    server will (the host's address family, `::1` is IPv6; SO_REUSEADDR) and letting go; OSError when the host does
    not resolve or the port is taken."""
    family, kind, proto, _, address = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)[0]
    with socket.socket(family, kind, proto) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(address)
        return sock.getsockname()[1]


def netloc(host: str, port: int) -> str:
    """`HOST:PORT`, with an IPv6 address in brackets (`[::1]:8765`) as URLs need it."""
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def http_url(host: str, port: int) -> str:
    return f"http://{netloc(host, port)}"


class EmulatorServer:
    """`with EmulatorServer(EmulatorConfig(port=0)) as emu:` -> emu.url, emu.api_key, emu.state.

    port=0 picks a free port. `stop()` then `start()` again on the same data_dir is a restart.
    """

    def __init__(self, config: EmulatorConfig | None = None, clock: Clock | None = None) -> None:
        config = config or EmulatorConfig(port=0)
        if config.port == 0:
            config = config.model_copy(update={"port": free_port(config.host)})
        self.config = config
        self.clock = clock
        self.state: EmulatorState | None = None
        self._server: PromptStopServer | None = None
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        return http_url(self.config.host, self.config.port)

    @property
    def api_key(self) -> str:
        return self.config.api_key

    def account_endpoint(self, name: str | None = None) -> str:
        """The data-plane endpoint of an account, as ARM reports it (`properties.endpoint`)."""
        if name is None or name == self.config.default_account:
            return self.url + "/"
        return f"{self.url}/accounts/{name}/"

    def start(self, timeout: float = 10.0) -> "EmulatorServer":
        self.state = EmulatorState.create(self.config, self.clock)
        app = create_app(self.config, state=self.state)
        uv_config = uvicorn.Config(app, host=self.config.host, port=self.config.port, log_level="warning",
                                   access_log=False, lifespan="off")
        self._server = PromptStopServer(uv_config)
        self._thread = threading.Thread(target=self._server.run, name="aoai-ft-emulator", daemon=True)
        self._thread.start()
        deadline = time.monotonic() + timeout
        while not self._server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError(f"the emulator did not start on {self.url}")
            time.sleep(0.02)
        return self

    def stop(self) -> None:
        if self.state is not None:
            self.state.stopping.set()  # injected delays end: requests in flight are answered, the stop is prompt
        if self._server is not None:
            self._server.request_exit()
        if self._thread is not None:
            self._thread.join(timeout=10)
        if self.state is not None:
            self.state.close()
        self._server = self._thread = None

    def __enter__(self) -> "EmulatorServer":
        return self.start()

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        self.stop()


def serve_forever(config: EmulatorConfig, on_ready: Callable[[EmulatorServer], None] | None = None) -> None:
    """Foreground server for the CLI: `on_ready` runs once it accepts connections (so what it prints is usable at
    once); Ctrl-C or SIGTERM stops it cleanly."""
    import signal

    server = EmulatorServer(config).start()
    stop = threading.Event()
    previous = signal.signal(signal.SIGTERM, lambda *_: stop.set())
    try:
        if on_ready is not None:
            on_ready(server)
        while not stop.wait(0.5):
            pass
    except KeyboardInterrupt:
        pass
    finally:
        signal.signal(signal.SIGTERM, previous)
        server.stop()

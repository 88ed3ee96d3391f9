"""uvicorn's server, stopping in milliseconds instead of ~0.2 s.

uvicorn looks at `should_exit` every 0.1 s, then sleeps another 0.1 s before it waits (polling every 0.1 s) for
open connections to close. The emulator is started and stopped once per test, per demo and on every Ctrl-C, so
here a stop request wakes the server at once and the shutdown polls every few milliseconds; what it waits for is
unchanged: idle keep-alive connections are closed, requests in flight finish first.
"""
from __future__ import annotations

import asyncio
import socket

import uvicorn

POLL_SECONDS = 0.005


class PromptStopServer(uvicorn.Server):
    """`request_exit()` from any thread ends `run()` as soon as the requests in flight are answered."""

    def __init__(self, config: uvicorn.Config) -> None:
        super().__init__(config)
        self._loop: asyncio.AbstractEventLoop | None = None
        self._wake = asyncio.Event()

    def request_exit(self) -> None:
        self.should_exit = True
        loop = self._loop
        if loop is not None and not loop.is_closed():
            try:
                loop.call_soon_threadsafe(self._wake.set)
            except RuntimeError:  # the loop closed in between: the server has already stopped
                pass

    async def main_loop(self) -> None:
        """uvicorn's tick every 0.1 s (it refreshes the Date header), cut short by `request_exit()`."""
        self._loop = asyncio.get_running_loop()
        counter = 0
        while not await self.on_tick(counter):
            counter = (counter + 1) % 864000
            try:
                await asyncio.wait_for(self._wake.wait(), 0.1)
            except TimeoutError:
                pass

    async def shutdown(self, sockets: list[socket.socket] | None = None) -> None:
        """As uvicorn's: stop accepting, close idle connections, let the others answer, wait for background tasks."""
        for server in self.servers:
            server.close()
        for sock in sockets or []:
            sock.close()
        for connection in list(self.server_state.connections):
            connection.shutdown()
        graceful = self.config.timeout_graceful_shutdown
        try:
            await asyncio.wait_for(self._connections_and_tasks_done(), timeout=graceful)
        except TimeoutError:
            for task in self.server_state.tasks:
                task.cancel(msg="Task cancelled, timeout graceful shutdown exceeded")
        if not self.force_exit:
            await self.lifespan.shutdown()

    async def _connections_and_tasks_done(self) -> None:
        while (self.server_state.connections or self.server_state.tasks) and not self.force_exit:
            await asyncio.sleep(POLL_SECONDS)
        for server in self.servers:
            await server.wait_closed()

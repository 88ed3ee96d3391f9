"""A closed-loop HTTP/1.1 load generator: N keep-alive connections, each sending the same POST again as soon as the
previous answer is complete; counts answers (and non-200s) inside a measuring window after a warm-up.

Written on asyncio's Protocol API with no dependencies so the generator costs far less CPU per request than the
servers it measures (an HTTP client library would be the bottleneck on one core). Answers are framed by
Content-Length or chunked transfer encoding, which covers uvicorn's h11 and httptools protocols.

    python benchmarks/loadgen.py URL --header 'api-key: KEY' --body '{"messages": [...]}' [--connections 48]
"""
from __future__ import annotations

import argparse
import asyncio
import json
import time
from dataclasses import dataclass, field
from urllib.parse import urlsplit


@dataclass
class Tally:
    counting: bool = False
    ok: int = 0
    failed: int = 0
    statuses: dict[int, int] = field(default_factory=dict)


class Connection(asyncio.Protocol):
    """One keep-alive connection that re-sends `request` as each response completes."""

    def __init__(self, request: bytes, tally: Tally, stop: asyncio.Event, lost: asyncio.Future) -> None:
        self.request, self.tally, self.stop, self.lost = request, tally, stop, lost
        self.buffer = bytearray()
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        transport.write(self.request)

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        while True:
            done = self._one_response()
            if done is None:
                return
            status, used = done
            del self.buffer[:used]
            if self.tally.counting:
                if status == 200:
                    self.tally.ok += 1
                else:
                    self.tally.failed += 1
                    self.tally.statuses[status] = self.tally.statuses.get(status, 0) + 1
            if self.stop.is_set():
                assert self.transport is not None
                self.transport.close()
                return
            assert self.transport is not None
            self.transport.write(self.request)

    def _one_response(self) -> tuple[int, int] | None:
        """(status, bytes used) of the complete response at the head of the buffer, or None if incomplete."""
        end = self.buffer.find(b"\r\n\r\n")
        if end < 0:
            return None
        head = bytes(self.buffer[:end]).decode("latin-1").split("\r\n")
        status = int(head[0].split(" ", 2)[1])
        headers = {}
        for line in head[1:]:
            name, _, value = line.partition(":")
            headers[name.strip().lower()] = value.strip()
        start = end + 4
        if "content-length" in headers:
            stop = start + int(headers["content-length"])
            return (status, stop) if len(self.buffer) >= stop else None
        if headers.get("transfer-encoding", "").lower() == "chunked":
            pos = start
            while True:
                line_end = self.buffer.find(b"\r\n", pos)
                if line_end < 0:
                    return None
                size = int(bytes(self.buffer[pos:line_end]).split(b";")[0], 16)
                pos = line_end + 2 + size + 2
                if len(self.buffer) < pos:
                    return None
                if size == 0:
                    return status, pos
        raise RuntimeError(f"response without Content-Length or chunked encoding: {head[0]}")

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.lost.done():
            self.lost.set_result(exc)


async def run(url: str, headers: dict[str, str], body: bytes, connections: int, warmup: float,
              seconds: float) -> dict[str, object]:
    """Load `url` for warmup + seconds; the counted window's requests per second and status tally."""
    parts = urlsplit(url)
    host, port = parts.hostname or "127.0.0.1", parts.port or 80
    target = parts.path + (f"?{parts.query}" if parts.query else "")
    lines = [f"POST {target} HTTP/1.1", f"Host: {host}:{port}", "Content-Type: application/json",
             f"Content-Length: {len(body)}", *(f"{k}: {v}" for k, v in headers.items())]
    request = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body
    loop = asyncio.get_running_loop()
    tally, stop = Tally(), asyncio.Event()
    losses = []
    for _ in range(connections):
        lost = loop.create_future()
        await loop.create_connection(lambda lost=lost: Connection(request, tally, stop, lost), host, port)
        losses.append(lost)
    await asyncio.sleep(warmup)
    tally.counting = True
    started = time.perf_counter()
    await asyncio.sleep(seconds)
    tally.counting = False
    elapsed = time.perf_counter() - started
    stop.set()
    await asyncio.wait(losses, timeout=10)
    return {"rate": tally.ok / elapsed, "ok": tally.ok, "failed": tally.failed,
            "statuses": {str(k): v for k, v in tally.statuses.items()}, "seconds": elapsed}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("url")
    parser.add_argument("--header", action="append", default=[], help="'Name: value', repeatable")
    parser.add_argument("--body", required=True, help="JSON request body")
    parser.add_argument("--connections", type=int, default=48)
    parser.add_argument("--warmup", type=float, default=2.0)
    parser.add_argument("--seconds", type=float, default=10.0)
    args = parser.parse_args()
    headers = dict((k.strip(), v.strip()) for k, _, v in (h.partition(":") for h in args.header))
    result = asyncio.run(run(args.url, headers, args.body.encode(), args.connections, args.warmup, args.seconds))
    print(json.dumps(result))


if __name__ == "__main__":
    main()

"""Fault injection: latency, 429 with Retry-After, 500s, any error status, dropped connections, by route and rate.

Rules come from the config at start and can be changed at run time through `/admin/faults`. Implemented
as plain ASGI middleware so it sits in front of every route, including ones that stream.
"""
from __future__ import annotations

import asyncio
import contextvars
import json
import logging
import random
import re
import threading
import time
from typing import Any, Awaitable, Callable

from pipeline.emulator.config import FaultRule

Scope = dict[str, Any]
Receive = Callable[[], Awaitable[dict[str, Any]]]
Send = Callable[[dict[str, Any]], Awaitable[None]]

ADMIN_PREFIX = "/admin/"
STOP_CHECK_SECONDS = 0.1  # how soon an injected delay notices that the server stops
# Set in the request's task while it drops its connection on purpose; the server's complaint about the
# unfinished response is then expected and not logged (see `QuietDrops`).
_dropping: contextvars.ContextVar[bool] = contextvars.ContextVar("aoai_ft_dropping", default=False)
UNFINISHED_RESPONSE = "ASGI callable returned without completing response."


class QuietDrops(logging.Filter):
    """Drops uvicorn's "returned without completing response" record for injected drops, and only for those."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not (_dropping.get() and record.getMessage() == UNFINISHED_RESPONSE)


def install_log_filter(logger_name: str = "uvicorn.error") -> None:
    """Idempotent: one QuietDrops on the server's error logger."""
    logger = logging.getLogger(logger_name)
    if not any(isinstance(f, QuietDrops) for f in logger.filters):
        logger.addFilter(QuietDrops())


class FaultInjector:
    def __init__(self, rules: list[FaultRule], rng: random.Random, stopping: threading.Event | None = None) -> None:
        self._rules: list[tuple[FaultRule, re.Pattern[str], list[int]]] = []
        self._lock = threading.Lock()
        self._rng = rng
        self._stopping = stopping or threading.Event()
        for rule in rules:
            self.add(rule)

    def add(self, rule: FaultRule) -> None:
        with self._lock:
            self._rules.append((rule, re.compile(rule.route), [0]))

    def clear(self) -> None:
        with self._lock:
            self._rules.clear()

    def rules(self) -> list[dict[str, Any]]:
        with self._lock:
            return [dict(rule.model_dump(), fired=fired[0]) for rule, _, fired in self._rules]

    async def delay(self, seconds: float) -> None:
        """Sleep `seconds`, or until the server stops (then the request is served at once, not cut off)."""
        deadline = time.monotonic() + seconds
        while (left := deadline - time.monotonic()) > 0 and not self._stopping.is_set():
            await asyncio.sleep(min(left, STOP_CHECK_SECONDS))

    def pick(self, method: str, path: str) -> FaultRule | None:
        """The first rule that matches and fires for this request (and count it)."""
        if path.startswith(ADMIN_PREFIX) or path == "/healthz":
            return None
        with self._lock:
            for rule, pattern, fired in self._rules:
                if rule.methods and method.upper() not in {m.upper() for m in rule.methods}:
                    continue
                if not pattern.search(path):
                    continue
                if rule.count is not None and fired[0] >= rule.count:
                    continue
                if rule.rate < 1.0 and self._rng.random() >= rule.rate:
                    continue
                fired[0] += 1
                return rule
        return None


class FaultMiddleware:
    def __init__(self, app: Callable, injector: FaultInjector) -> None:
        self.app, self.injector = app, injector

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        rule = self.injector.pick(scope["method"], scope["path"])
        if rule is None:
            await self.app(scope, receive, send)
        elif rule.kind == "latency":
            await self.injector.delay(rule.seconds)
            await self.app(scope, receive, send)
        elif rule.kind == "429":
            retry = max(rule.seconds, 0.0)
            await _send_json(send, 429, {
                "error": {
                    "code": "429",
                    "message": "Requests to the Operation under Azure OpenAI API version have exceeded the rate "
                               f"limit of your current OpenAI S0 pricing tier. Please retry after {retry:g} seconds.",
                }
            }, [(b"retry-after", str(int(retry) if retry.is_integer() else retry).encode()),
                (b"retry-after-ms", str(int(retry * 1000)).encode())])
        elif rule.kind == "500":
            await _send_json(send, 500, {"error": {"code": "internalFailure", "message": "Injected internal error."}})
        elif rule.kind == "error":
            await _send_json(send, rule.status, {"error": {"code": rule.code, "message": f"Injected {rule.code}."}})
        else:  # drop: promise a body, send part of it, return unfinished -> the server closes the connection
            _dropping.set(True)
            await send({"type": "http.response.start", "status": 200,
                        "headers": [(b"content-type", b"application/json"), (b"content-length", b"4096")]})
            await send({"type": "http.response.body", "body": b"{\"partial\": ", "more_body": True})


async def _send_json(send: Send, status: int, body: dict[str, Any], headers: list[tuple[bytes, bytes]] | None = None) -> None:
    payload = json.dumps(body).encode()
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", b"application/json"),
                            (b"content-length", str(len(payload)).encode()), *(headers or [])]})
    await send({"type": "http.response.body", "body": payload})

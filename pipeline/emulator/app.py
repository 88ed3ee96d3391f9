"""The emulator's ASGI app: health, admin, request log, fault injection, and the two planes."""
from __future__ import annotations

import hmac
import logging
import time
from typing import Any, Awaitable, Callable

from fastapi import Depends, FastAPI, Request
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException

from pipeline.emulator import arm, identity
from pipeline.emulator.clock import Clock
from pipeline.emulator.config import EmulatorConfig, FaultRule
from pipeline.emulator.dataplane.http import CollapseSlashes
from pipeline.emulator.dataplane.routes.chat import ChatFastPath
from pipeline.emulator.dataplane.routes import include_dataplane
from pipeline.emulator.errors import (
    AzureError, InternalErrors, azure_error_handler, http_exception_handler, validation_error_handler,
)
from pipeline.emulator.faults import FaultInjector, FaultMiddleware, install_log_filter
from pipeline.emulator.state import EmulatorState

log = logging.getLogger("aoai_ft.emulator")


class RequestLog:
    """ASGI middleware: one log line per request, `METHOD /path -> status (ms)`, written as its answer starts
    (before the client can have it, so a caller that got an answer finds its line)."""

    def __init__(self, app: Callable[[dict[str, Any], Any, Any], Awaitable[None]]) -> None:
        self.app = app

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()

        async def logging_send(message: dict[str, Any]) -> None:
            if message["type"] == "http.response.start":
                log.info("%s %s -> %d (%.1f ms)", scope["method"], scope["path"], message["status"],
                         (time.perf_counter() - started) * 1000)
            await send(message)

        await self.app(scope, receive, logging_send)


def require_admin_key(state: EmulatorState, request: Request) -> None:
    """401 unless `api-key` is key1 or key2 of the default account."""
    account = state.accounts.lookup(state.config.default_account)
    key = request.headers.get("api-key", "")
    if account is None or not any(hmac.compare_digest(key.encode(), k.encode()) for k in (account.key1, account.key2)):
        raise AzureError(401, "unauthorized", "The admin API needs the 'api-key' header of the default account "
                                              "(the emulator's --api-key).")


def create_app(config: EmulatorConfig, clock: Clock | None = None, state: EmulatorState | None = None) -> FastAPI:
    state = state or EmulatorState.create(config, clock)
    injector = FaultInjector(config.faults, state.rng, state.stopping)
    app = FastAPI(title="aoai-finetune emulator", docs_url=None, redoc_url=None, openapi_url=None)
    app.state.emulator = state
    app.state.faults = injector
    app.add_exception_handler(AzureError, azure_error_handler)
    app.add_exception_handler(RequestValidationError, validation_error_handler)
    app.add_exception_handler(StarletteHTTPException, http_exception_handler)
    # Innermost middleware: chat requests are answered without FastAPI's routing (see routes/chat.py); just
    # outside it, a bug in a handler is a 500 envelope, never a reset keep-alive connection.
    app.add_middleware(ChatFastPath, state=state)
    app.add_middleware(InternalErrors)
    if config.log_requests:
        app.add_middleware(RequestLog)

    @app.get("/healthz")
    async def healthz() -> dict:
        return {"status": "ok"}

    def admin(request: Request) -> None:
        """Changing faults needs the default account's api-key: a CI job's emulator is not everyone's to break."""
        require_admin_key(state, request)

    @app.get("/admin/faults", dependencies=[Depends(admin)])
    async def list_faults() -> dict:
        return {"rules": injector.rules()}

    @app.post("/admin/faults", status_code=201, dependencies=[Depends(admin)])
    async def add_fault(rule: FaultRule) -> dict:
        injector.add(rule)
        return {"rules": injector.rules()}

    @app.delete("/admin/faults", dependencies=[Depends(admin)])
    async def clear_faults() -> dict:
        injector.clear()
        return {"rules": []}

    app.include_router(identity.build_router(state.config, state.tokens, state.clock))
    app.include_router(arm.build_router(state))
    include_dataplane(app)
    # Outermost: faults apply before anything else, including auth.
    app.add_middleware(FaultMiddleware, injector=injector)
    install_log_filter()
    # Outside even that: `//openai/...` (legacy SDK with an endpoint ending in "/") is routed like `/openai/...`.
    app.add_middleware(CollapseSlashes)
    return app

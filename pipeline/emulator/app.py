"""The emulator's ASGI app: health, admin, request log, fault injection, and the two planes."""
from __future__ import annotations

import logging
import time

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError

from pipeline.emulator import arm, dataplane, evals, identity
from pipeline.emulator.clock import Clock
from pipeline.emulator.config import EmulatorConfig, FaultRule
from pipeline.emulator.errors import AzureError, azure_error_handler, validation_error_handler
from pipeline.emulator.faults import FaultInjector, FaultMiddleware
from pipeline.emulator.state import EmulatorState

log = logging.getLogger("aoai_ft.emulator")


def create_app(config: EmulatorConfig, clock: Clock | None = None, state: EmulatorState | None = None) -> FastAPI:
    state = state or EmulatorState.create(config, clock)
    injector = FaultInjector(config.faults, state.rng)
    app = FastAPI(title="aoai-finetune emulator", docs_url=None, redoc_url=None, openapi_url=None)
    app.state.emulator = state
    app.state.faults = injector
    app.add_exception_handler(AzureError, azure_error_handler)
    app.add_exception_handler(RequestValidationError, validation_error_handler)

    if config.log_requests:
        @app.middleware("http")
        async def log_request(request: Request, call_next):  # one line per request
            started = time.perf_counter()
            response = await call_next(request)
            log.info("%s %s -> %d (%.1f ms)", request.method, request.url.path, response.status_code,
                     (time.perf_counter() - started) * 1000)
            return response

    @app.get("/healthz")
    async def healthz() -> dict:
        return {"status": "ok"}

    @app.get("/admin/faults")
    async def list_faults() -> dict:
        return {"rules": injector.rules()}

    @app.post("/admin/faults", status_code=201)
    async def add_fault(rule: FaultRule) -> dict:
        injector.add(rule)
        return {"rules": injector.rules()}

    @app.delete("/admin/faults")
    async def clear_faults() -> dict:
        injector.clear()
        return {"rules": []}

    app.include_router(identity.build_router(state))
    app.include_router(arm.build_router(state))
    app.include_router(dataplane.build_router(state))
    app.include_router(evals.build_router(state))  # after the data plane: it samples through its chat
    # Outermost: faults apply before anything else, including auth.
    app.add_middleware(FaultMiddleware, injector=injector)
    # Outside even that: `//openai/...` (legacy SDK with an endpoint ending in "/") is routed like `/openai/...`.
    app.add_middleware(dataplane.CollapseSlashes)
    return app

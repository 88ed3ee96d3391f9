"""The data plane's HTTP surface: one router per resource, each mounted under every account prefix it is served
at (`context.PREFIXES`: dated `/openai`, `/openai/v1`, and both again below `/accounts/{account}`)."""
from __future__ import annotations

from fastapi import APIRouter, FastAPI

from pipeline.emulator.dataplane.context import PREFIXES
from pipeline.emulator.dataplane.routes import chat, files, jobs, models
from pipeline.emulator.dataplane.evals import routes as evals

__all__ = ["include_dataplane"]


def _mount(app: FastAPI, router: APIRouter, *, dated: bool = True, v1: bool = True) -> None:
    for prefix in PREFIXES:
        if (v1 if prefix.endswith("/v1") else dated):
            app.include_router(router, prefix=prefix, include_in_schema=False)


def include_dataplane(app: FastAPI) -> None:
    """Every data-plane route on `app`; the evals come last (they sample through the chat route's plane)."""
    for router in (files.router, jobs.router, models.router):
        _mount(app, router)
    app.include_router(jobs.legacy_router, include_in_schema=False)
    _mount(app, chat.dated_router, v1=False)
    _mount(app, chat.v1_router, dated=False)
    _mount(app, evals.router)

"""What a data-plane route declares to get its account context and stores (FastAPI dependencies).

`Context` runs `context.resolve` (account, api-version, network rules, credentials, roles) before the route's
body is read; `PreviewContext` also needs a preview surface; `LegacyContext` is the openai==0.28.1 events route
(no prefix, no api-version). `Plane` is the instance's `DataPlane`, from the app the request came to.
"""
from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from pipeline.emulator.state import EmulatorState
from pipeline.emulator.dataplane.context import CallContext, resolve, resource_not_found
from pipeline.emulator.dataplane.plane import DataPlane

__all__ = ["Context", "LegacyContext", "Plane", "PreviewContext", "emulator_state"]


def emulator_state(request: Request) -> EmulatorState:
    return request.app.state.emulator


async def _call_context(request: Request) -> CallContext:
    return resolve(emulator_state(request), request)


async def _legacy_call_context(request: Request) -> CallContext:
    return resolve(emulator_state(request), request, legacy_default=True)


async def _preview_call_context(ctx: Annotated[CallContext, Depends(_call_context)]) -> CallContext:
    if not ctx.preview:  # pause/resume do not exist on GA dated versions
        raise resource_not_found()
    return ctx


async def _data_plane(request: Request) -> DataPlane:
    return emulator_state(request).dataplane


Context = Annotated[CallContext, Depends(_call_context)]
PreviewContext = Annotated[CallContext, Depends(_preview_call_context)]
LegacyContext = Annotated[CallContext, Depends(_legacy_call_context)]
Plane = Annotated[DataPlane, Depends(_data_plane)]

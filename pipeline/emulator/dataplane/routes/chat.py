"""Chat completions on a deployment: `dated_router` names it in the path (`/deployments/{d}/chat/completions`),
`v1_router` in the body's `model` (`/openai/v1/chat/completions`).

Chat is the emulator's hot path (load tests, evaluation runs), so `ChatFastPath` serves these POSTs straight
from ASGI: the same `chat_response` as the routes, without FastAPI's matching of the path against every route
of both planes and its dependency solving, which together cost more than answering. The routes stay for the
rest (another method is 405 there, a trailing slash is redirected) and to declare the surface.
"""
from __future__ import annotations

import re
from typing import Any, AsyncIterator, Awaitable, Callable

import orjson
from fastapi import APIRouter, Request, Response
from fastapi.responses import StreamingResponse

from pipeline.emulator.errors import AzureError, azure_error_handler
from pipeline.emulator.dataplane.chat import stream_chunks
from pipeline.emulator.dataplane.context import CallContext, resolve
from pipeline.emulator.dataplane.dependencies import emulator_state
from pipeline.emulator.dataplane.http import json_body, json_response
from pipeline.emulator.dataplane.plane import DataPlane
from pipeline.emulator.state import EmulatorState

DEPLOYMENT_NOT_FOUND = ("The API deployment for this resource does not exist. If you created the deployment within "
                        "the last 5 minutes, please wait a moment and try again.")
# The paths the two routers below serve under every prefix of `context.PREFIXES`, as Starlette matches them
# (a path parameter is one non-empty segment).
CHAT_PATH = re.compile(r"(?:/accounts/(?P<account>[^/]+))?/openai"
                       r"(?:/deployments/(?P<deployment>[^/]+)|/v1)/chat/completions")

dated_router = APIRouter()
v1_router = APIRouter()


def _chat(plane: DataPlane, ctx: CallContext, deployment_name: str, body: dict[str, Any]) -> Response:
    now = plane.clock.now()
    deployment = plane.deployments.lookup(ctx.account.name, deployment_name)
    if deployment is None or deployment.provisioning_state(now) != "Succeeded":
        raise AzureError(404, "DeploymentNotFound", DEPLOYMENT_NOT_FOUND)
    if deployment.paused:
        raise AzureError(423, "DeploymentPaused",
                         f"The deployment '{deployment_name}' is paused. Resume it to send requests.")
    model = deployment.model_name
    completion = plane.chat.completion(model, body, plane.models.training_data_of(model), now)
    if body.get("stream"):
        chunks = stream_chunks(completion)

        async def sse() -> AsyncIterator[bytes]:
            for chunk in chunks:
                yield b"data: " + orjson.dumps(chunk) + b"\n\n"
            yield b"data: [DONE]\n\n"

        return StreamingResponse(sse(), media_type="text/event-stream")
    return json_response(completion)


async def chat_response(state: EmulatorState, request: Request, deployment: str | None) -> Response:
    """A chat request once routed: context (account, api-version, network, credentials, roles) before the body
    is read, then the answer. `deployment` None is the v1 surface, which names it in the body's `model`."""
    ctx = resolve(state, request)
    body = await json_body(request)
    if deployment is None:
        deployment = body.get("model")
        if not isinstance(deployment, str) or not deployment:
            raise AzureError(400, "invalidPayload", "'model' (the deployment name) is required on /openai/v1.",
                             param="model")
    return _chat(state.dataplane, ctx, deployment, body)


@dated_router.post("/deployments/{deployment}/chat/completions")
async def chat_dated(request: Request, deployment: str) -> Response:
    return await chat_response(emulator_state(request), request, deployment)


@v1_router.post("/chat/completions")
async def chat_v1(request: Request) -> Response:
    return await chat_response(emulator_state(request), request, None)


ASGIApp = Callable[[dict[str, Any], Any, Any], Awaitable[None]]


class ChatFastPath:
    """ASGI middleware: a POST to a chat path is answered by `chat_response` here; anything else goes on to the
    app. Sits inside the fault and error middleware, so injected faults and the 500 envelope apply alike."""

    def __init__(self, app: ASGIApp, state: EmulatorState) -> None:
        self.app, self.state = app, state

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        match = None
        if scope["type"] == "http" and scope["method"] == "POST" and not scope.get("root_path"):
            match = CHAT_PATH.fullmatch(scope["path"])
        if match is None:
            await self.app(scope, receive, send)
            return
        account, deployment = match.group("account", "deployment")
        scope["path_params"] = {k: v for k, v in (("account", account), ("deployment", deployment)) if v is not None}
        request = Request(scope, receive)
        try:
            response = await chat_response(self.state, request, deployment)
        except AzureError as exc:
            response = await azure_error_handler(request, exc)
        await response(scope, receive, send)

"""Chat completions on a deployment: `dated_router` names it in the path (`/deployments/{d}/chat/completions`),
`v1_router` in the body's `model` (`/openai/v1/chat/completions`)."""
from __future__ import annotations

from typing import Any, AsyncIterator

import orjson
from fastapi import APIRouter, Request, Response
from fastapi.responses import StreamingResponse

from pipeline.emulator.errors import AzureError
from pipeline.emulator.dataplane.chat import stream_chunks
from pipeline.emulator.dataplane.context import CallContext
from pipeline.emulator.dataplane.dependencies import Context, Plane
from pipeline.emulator.dataplane.http import json_body, json_response
from pipeline.emulator.dataplane.plane import DataPlane

DEPLOYMENT_NOT_FOUND = ("The API deployment for this resource does not exist. If you created the deployment within "
                        "the last 5 minutes, please wait a moment and try again.")

dated_router = APIRouter()
v1_router = APIRouter()


def _chat(plane: DataPlane, ctx: CallContext, deployment_name: str, body: dict[str, Any]) -> Response:
    now = plane.clock.now()
    deployment = plane.deployments.get(ctx.account.name, deployment_name)
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


@dated_router.post("/deployments/{deployment}/chat/completions")
async def chat_dated(request: Request, deployment: str, ctx: Context, plane: Plane) -> Response:
    return _chat(plane, ctx, deployment, await json_body(request))


@v1_router.post("/chat/completions")
async def chat_v1(request: Request, ctx: Context, plane: Plane) -> Response:
    body = await json_body(request)
    model = body.get("model")
    if not isinstance(model, str) or not model:
        raise AzureError(400, "invalidPayload", "'model' (the deployment name) is required on /openai/v1.",
                         param="model")
    return _chat(plane, ctx, model, body)

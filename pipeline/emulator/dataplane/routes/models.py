"""`/models`: the base models this emulator can fine-tune plus the account's fine-tuned models."""
from __future__ import annotations

from fastapi import APIRouter, Response

from pipeline.emulator.dataplane.dependencies import Context, Plane
from pipeline.emulator.dataplane.http import json_response

router = APIRouter()


@router.get("/models")
async def list_models(ctx: Context, plane: Plane) -> Response:
    return json_response({"object": "list", "data": plane.catalog.list(ctx.account.name)})


@router.get("/models/{model_id}")
async def get_model(model_id: str, ctx: Context, plane: Plane) -> Response:
    return json_response(plane.catalog.get(ctx.account.name, model_id))


@router.delete("/models/{model_id}")
async def delete_model(model_id: str, ctx: Context, plane: Plane) -> Response:
    return json_response(plane.catalog.delete(ctx.account.name, model_id))

"""`/files`: upload (streamed, multipart), list, get, content and delete."""
from __future__ import annotations

from pathlib import Path

from fastapi import APIRouter, Request, Response
from fastapi.responses import FileResponse
from starlette.concurrency import run_in_threadpool

from pipeline.emulator.errors import AzureError
from pipeline.emulator.dataplane.dependencies import Context, Plane
from pipeline.emulator.dataplane.files import MAX_UPLOAD_BYTES, UPLOAD_PURPOSES, file_too_large
from pipeline.emulator.dataplane.http import json_response, paged

router = APIRouter()


@router.post("/files")
async def upload_file(request: Request, ctx: Context, plane: Plane) -> Response:
    declared = int(request.headers.get("content-length") or 0)
    if declared > MAX_UPLOAD_BYTES + 1024 * 1024:  # refuse before reading a byte
        raise file_too_large()
    form = await request.form(max_files=1, max_fields=8)
    try:
        purpose, upload = form.get("purpose"), form.get("file")
        if not isinstance(purpose, str) or not purpose:
            raise AzureError(400, "invalidPayload", "The 'purpose' field is required (use 'fine-tune').",
                             param="purpose")
        if purpose not in UPLOAD_PURPOSES:
            raise AzureError(400, "invalidPayload",
                             f"Invalid purpose {purpose!r}; use one of: {', '.join(UPLOAD_PURPOSES)}.",
                             param="purpose")
        if upload is None or isinstance(upload, str):
            raise AzureError(400, "invalidPayload", "The 'file' field is required (multipart file part).",
                             param="file")
        filename = Path(upload.filename or "file").name or "file"
        record = await run_in_threadpool(plane.files.add_stream, ctx.account.name, upload.file, filename, purpose)
    finally:
        await form.close()
    return json_response(plane.files.to_api(record), ctx.created_status,
                         headers={"Location": f"{request.url.path}/{record.id}"})


@router.get("/files")
async def list_files(request: Request, ctx: Context, plane: Plane) -> Response:
    items = [plane.files.to_api(r) for r in plane.files.list(ctx.account.name, request.query_params.get("purpose"))]
    if request.query_params.get("order") == "asc":
        items.reverse()
    return paged(request, items, 10_000)


@router.get("/files/{file_id}")
async def get_file(file_id: str, ctx: Context, plane: Plane) -> Response:
    return json_response(plane.files.to_api(plane.files.require(ctx.account.name, file_id)))


@router.get("/files/{file_id}/content")
async def file_content(file_id: str, ctx: Context, plane: Plane) -> Response:
    record = plane.files.require(ctx.account.name, file_id)
    media = "text/csv" if record.filename.endswith(".csv") else "application/octet-stream"
    return FileResponse(record.path, media_type=media)


@router.delete("/files/{file_id}")
async def delete_file(file_id: str, ctx: Context, plane: Plane) -> Response:
    plane.files.delete(ctx.account.name, file_id)
    return json_response({"object": "file", "deleted": True, "id": file_id})

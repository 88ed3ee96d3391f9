"""Data plane of the emulated Azure OpenAI account: files, fine-tuning jobs, models and chat completions.

Every route is registered under the four prefixes of `context.PREFIXES` (dated `/openai`, `/openai/v1`, and
both again below `/accounts/{account}`); `context.resolve` checks account, api-version and credentials.
Module map: context (prefix/api-version/auth), files (store + processing), jobs (create/cancel/pause/settle),
simulation (progress, metrics, events, checkpoints as a function of the clock), catalog (/models),
chat (answers), chat_request (its checks), training (use of the dataset library), http (response/paging helpers).
"""
from __future__ import annotations

from pathlib import Path
from typing import Any, Awaitable, Callable

import orjson
from fastapi import APIRouter, Request, Response
from fastapi.responses import FileResponse, StreamingResponse
from starlette.concurrency import run_in_threadpool

from pipeline.emulator.errors import AzureError
from pipeline.emulator.state import EmulatorState
from pipeline.emulator.dataplane.catalog import Catalog
from pipeline.emulator.dataplane.chat import ChatResponder, stream_chunks
from pipeline.emulator.dataplane.context import PREFIXES, CallContext, resolve, resource_not_found
from pipeline.emulator.dataplane.files import MAX_UPLOAD_BYTES, UPLOAD_PURPOSES, FileStore, file_too_large
from pipeline.emulator.dataplane.http import CollapseSlashes, int_param, json_body, json_response, list_body, page
from pipeline.emulator.dataplane.jobs import JobStore
from pipeline.emulator.dataplane.learning import Learning

__all__ = ["CollapseSlashes", "DataPlane", "build_router"]

DEPLOYMENT_NOT_FOUND = ("The API deployment for this resource does not exist. If you created the deployment within "
                        "the last 5 minutes, please wait a moment and try again.")
Handler = Callable[..., Awaitable[Response]]


class DataPlane:
    """The stores behind the routes; `state.dataplane` for tests that want to reach in."""

    def __init__(self, state: EmulatorState) -> None:
        self.state = state
        self.files = FileStore(state)
        self.jobs = JobStore(state, self.files)
        self.catalog = Catalog(state)
        self.chat = ChatResponder()
        self.chat.generalize = Learning(self).generalize
        state.models.before_lookup = self.jobs.settle_all
        self._training_data: dict[str, Path | None] = {}

    def training_data_of(self, model: str) -> Path | None:
        """The training data a fine-tuned model answers from (None for base models), cached per model."""
        if model in self._training_data:
            return self._training_data[model]
        if ".ft-" not in model:
            return None
        row = self.catalog.fine_tuned_row(model)
        path = Path(row["training_data"]) if row is not None and row["training_data"] else None
        if row is not None:
            self._training_data[model] = path
        return path


def build_router(state: EmulatorState) -> APIRouter:
    plane = DataPlane(state)
    state.dataplane = plane  # type: ignore[attr-defined]
    router = APIRouter()

    def route(method: str, path: str, handler: Handler, *, v1: bool = True, dated: bool = True) -> None:
        for prefix in PREFIXES:
            is_v1 = prefix.endswith("/v1")
            if (is_v1 and v1) or (not is_v1 and dated):
                router.add_api_route(prefix + path, handler, methods=[method], include_in_schema=False)

    now = state.clock.now

    # ---- files ---------------------------------------------------------------------------------------
    async def upload_file(request: Request) -> Response:
        ctx = resolve(state, request)
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

    async def list_files(request: Request) -> Response:
        ctx = resolve(state, request)
        items = [plane.files.to_api(r) for r in plane.files.list(ctx.account.name, request.query_params.get("purpose"))]
        if request.query_params.get("order") == "asc":
            items.reverse()
        chunk, more = page(items, request.query_params.get("after"), int_param(request, "limit", 10_000))
        return json_response(list_body(chunk, more))

    async def get_file(request: Request, file_id: str) -> Response:
        ctx = resolve(state, request)
        return json_response(plane.files.to_api(plane.files.require(ctx.account.name, file_id)))

    async def file_content(request: Request, file_id: str) -> Response:
        ctx = resolve(state, request)
        record = plane.files.require(ctx.account.name, file_id)
        media = "text/csv" if record.filename.endswith(".csv") else "application/octet-stream"
        return FileResponse(record.path, media_type=media)

    async def delete_file(request: Request, file_id: str) -> Response:
        ctx = resolve(state, request)
        plane.files.delete(ctx.account.name, file_id)
        return json_response({"object": "file", "deleted": True, "id": file_id})

    route("POST", "/files", upload_file)
    route("GET", "/files", list_files)
    route("GET", "/files/{file_id}", get_file)
    route("GET", "/files/{file_id}/content", file_content)
    route("DELETE", "/files/{file_id}", delete_file)

    # ---- fine-tuning jobs ------------------------------------------------------------------------------
    async def create_job(request: Request) -> Response:
        ctx = resolve(state, request)
        req = plane.jobs.parse(await json_body(request))
        job = plane.jobs.create(ctx.account.name, req)
        return json_response(job, ctx.created_status, headers={"Location": f"{request.url.path}/{job['id']}"})

    async def list_jobs(request: Request) -> Response:
        ctx = resolve(state, request)
        items = [plane.jobs.to_api(j) for j in plane.jobs.list(ctx.account.name)]
        chunk, more = page(items, request.query_params.get("after"), int_param(request, "limit", 20))
        return json_response(list_body(chunk, more))

    async def get_job(request: Request, job_id: str) -> Response:
        ctx = resolve(state, request)
        return json_response(plane.jobs.to_api(plane.jobs.require(ctx.account.name, job_id)))

    async def delete_job(request: Request, job_id: str) -> Response:
        ctx = resolve(state, request)
        plane.jobs.delete(ctx.account.name, job_id)
        return Response(status_code=204)

    async def cancel_job(request: Request, job_id: str) -> Response:
        ctx = resolve(state, request)
        return json_response(plane.jobs.cancel(ctx.account.name, job_id))

    def preview_only(ctx: CallContext) -> None:
        if not ctx.preview:  # pause/resume do not exist on GA dated versions
            raise resource_not_found()

    async def pause_job(request: Request, job_id: str) -> Response:
        ctx = resolve(state, request)
        preview_only(ctx)
        return json_response(plane.jobs.pause(ctx.account.name, job_id))

    async def resume_job(request: Request, job_id: str) -> Response:
        ctx = resolve(state, request)
        preview_only(ctx)
        return json_response(plane.jobs.resume(ctx.account.name, job_id))

    def _events(request: Request, ctx: CallContext, job_id: str) -> Response:
        job = plane.jobs.require(ctx.account.name, job_id)
        run = plane.jobs.run(job)
        events = run.events(now(), {"training": job["training_file"], "validation": job["validation_file"]},
                            job["fine_tuned_model"])
        events.reverse()  # newest first, as OpenAI serves them
        chunk, more = page(events, request.query_params.get("after"), int_param(request, "limit", 20))
        return json_response({"object": "list", "data": chunk, "has_more": more})

    async def job_events(request: Request, job_id: str) -> Response:
        return _events(request, resolve(state, request), job_id)

    async def legacy_job_events(request: Request, job_id: str) -> Response:
        """openai==0.28.1 `FineTuningJob.list_events` calls this path: no /openai prefix, no api-version."""
        return _events(request, resolve(state, request, legacy_default=True), job_id)

    async def job_checkpoints(request: Request, job_id: str) -> Response:
        ctx = resolve(state, request)
        job = plane.jobs.require(ctx.account.name, job_id)
        items = plane.jobs.run(job).checkpoints(now(), job["fine_tuned_model"])
        chunk, more = page(items, request.query_params.get("after"), int_param(request, "limit", 10))
        return json_response({"object": "list", "data": chunk, "has_more": more,
                              "first_id": chunk[0]["id"] if chunk else None,
                              "last_id": chunk[-1]["id"] if chunk else None})

    route("POST", "/fine_tuning/jobs", create_job)
    route("GET", "/fine_tuning/jobs", list_jobs)
    route("GET", "/fine_tuning/jobs/{job_id}", get_job)
    route("DELETE", "/fine_tuning/jobs/{job_id}", delete_job)
    route("POST", "/fine_tuning/jobs/{job_id}/cancel", cancel_job)
    route("POST", "/fine_tuning/jobs/{job_id}/pause", pause_job)
    route("POST", "/fine_tuning/jobs/{job_id}/resume", resume_job)
    route("GET", "/fine_tuning/jobs/{job_id}/events", job_events)
    route("GET", "/fine_tuning/jobs/{job_id}/checkpoints", job_checkpoints)
    router.add_api_route("/fine_tuning/jobs/{job_id}/events", legacy_job_events, methods=["GET"],
                         include_in_schema=False)

    # ---- models ------------------------------------------------------------------------------------------
    async def list_models(request: Request) -> Response:
        ctx = resolve(state, request)
        return json_response({"object": "list", "data": plane.catalog.list(ctx.account.name)})

    async def get_model(request: Request, model_id: str) -> Response:
        ctx = resolve(state, request)
        return json_response(plane.catalog.get(ctx.account.name, model_id))

    async def delete_model(request: Request, model_id: str) -> Response:
        ctx = resolve(state, request)
        return json_response(plane.catalog.delete(ctx.account.name, model_id))

    route("GET", "/models", list_models)
    route("GET", "/models/{model_id}", get_model)
    route("DELETE", "/models/{model_id}", delete_model)

    # ---- chat completions ----------------------------------------------------------------------------------
    async def _chat(ctx: CallContext, deployment_name: str, body: dict[str, Any]) -> Response:
        deployment = state.deployments.get(ctx.account.name, deployment_name)
        if deployment is None or deployment.provisioning_state(now()) != "Succeeded":
            raise AzureError(404, "DeploymentNotFound", DEPLOYMENT_NOT_FOUND)
        if deployment.paused:
            raise AzureError(423, "DeploymentPaused",
                             f"The deployment '{deployment_name}' is paused. Resume it to send requests.")
        model = deployment.model_name
        completion = plane.chat.completion(model, body, plane.training_data_of(model), now())
        if body.get("stream"):
            chunks = stream_chunks(completion)

            async def sse() -> Any:
                for chunk in chunks:
                    yield b"data: " + orjson.dumps(chunk) + b"\n\n"
                yield b"data: [DONE]\n\n"

            return StreamingResponse(sse(), media_type="text/event-stream")
        return json_response(completion)

    async def chat_dated(request: Request, deployment: str) -> Response:
        ctx = resolve(state, request)
        return await _chat(ctx, deployment, await json_body(request))

    async def chat_v1(request: Request) -> Response:
        ctx = resolve(state, request)
        body = await json_body(request)
        model = body.get("model")
        if not isinstance(model, str) or not model:
            raise AzureError(400, "invalidPayload", "'model' (the deployment name) is required on /openai/v1.",
                             param="model")
        return await _chat(ctx, model, body)

    route("POST", "/deployments/{deployment}/chat/completions", chat_dated, v1=False)
    route("POST", "/chat/completions", chat_v1, dated=False)
    return router

"""`/fine_tuning/jobs`: create, list, get, delete, cancel, pause/resume (preview surfaces), events and
checkpoints; plus `legacy_router`, the prefix-less events route openai==0.28.1 calls."""
from __future__ import annotations

from fastapi import APIRouter, Request, Response

from pipeline.emulator.dataplane.context import CallContext
from pipeline.emulator.dataplane.dependencies import Context, LegacyContext, Plane, PreviewContext
from pipeline.emulator.dataplane.http import int_param, json_body, json_response, page, paged
from pipeline.emulator.dataplane.job_request import parse_job_request
from pipeline.emulator.dataplane.plane import DataPlane

router = APIRouter()
legacy_router = APIRouter()


@router.post("/fine_tuning/jobs")
async def create_job(request: Request, ctx: Context, plane: Plane) -> Response:
    job = plane.jobs.create(ctx.account.name, parse_job_request(await json_body(request)), preview=ctx.preview)
    return json_response(plane.jobs.to_api(job), ctx.created_status,
                         headers={"Location": f"{request.url.path}/{job.id}"})


@router.get("/fine_tuning/jobs")
async def list_jobs(request: Request, ctx: Context, plane: Plane) -> Response:
    return paged(request, [plane.jobs.to_api(j) for j in plane.jobs.list(ctx.account.name)], 20)


@router.get("/fine_tuning/jobs/{job_id}")
async def get_job(job_id: str, ctx: Context, plane: Plane) -> Response:
    return json_response(plane.jobs.to_api(plane.jobs.require(ctx.account.name, job_id)))


@router.delete("/fine_tuning/jobs/{job_id}")
async def delete_job(job_id: str, ctx: Context, plane: Plane) -> Response:
    plane.jobs.delete(ctx.account.name, job_id)
    return Response(status_code=204)


@router.post("/fine_tuning/jobs/{job_id}/cancel")
async def cancel_job(job_id: str, ctx: Context, plane: Plane) -> Response:
    return json_response(plane.jobs.cancel(ctx.account.name, job_id))


@router.post("/fine_tuning/jobs/{job_id}/pause")
async def pause_job(job_id: str, ctx: PreviewContext, plane: Plane) -> Response:
    return json_response(plane.jobs.pause(ctx.account.name, job_id))


@router.post("/fine_tuning/jobs/{job_id}/resume")
async def resume_job(job_id: str, ctx: PreviewContext, plane: Plane) -> Response:
    return json_response(plane.jobs.resume(ctx.account.name, job_id))


def _events(request: Request, ctx: CallContext, plane: DataPlane, job_id: str) -> Response:
    job = plane.jobs.require(ctx.account.name, job_id)
    events = job.run().events(plane.clock.now(), {"training": job.training_file, "validation": job.validation_file},
                              job.fine_tuned_model)
    events.reverse()  # newest first, as OpenAI serves them
    chunk, more = page(events, request.query_params.get("after"), int_param(request, "limit", 20))
    return json_response({"object": "list", "data": chunk, "has_more": more})


@router.get("/fine_tuning/jobs/{job_id}/events")
async def job_events(request: Request, job_id: str, ctx: Context, plane: Plane) -> Response:
    return _events(request, ctx, plane, job_id)


@legacy_router.get("/fine_tuning/jobs/{job_id}/events")
async def legacy_job_events(request: Request, job_id: str, ctx: LegacyContext, plane: Plane) -> Response:
    """openai==0.28.1 `FineTuningJob.list_events` calls this path: no /openai prefix, no api-version."""
    return _events(request, ctx, plane, job_id)


@router.get("/fine_tuning/jobs/{job_id}/checkpoints")
async def job_checkpoints(request: Request, job_id: str, ctx: Context, plane: Plane) -> Response:
    job = plane.jobs.require(ctx.account.name, job_id)
    return paged(request, job.run().checkpoints(plane.clock.now(), job.fine_tuned_model), 10)

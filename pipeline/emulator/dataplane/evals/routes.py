"""`/evals`: evals, runs, output items and cancel, declared like every data-plane resource (`Context`, `Plane`)
and mounted under the same account prefixes."""
from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request, Response
from starlette.concurrency import run_in_threadpool

from pipeline.emulator.dataplane.dependencies import Context, Plane
from pipeline.emulator.dataplane.http import json_body, json_response, paged
from pipeline.emulator.errors import AzureError
from pipeline.emulator.dataplane.evals.graders import check_criteria
from pipeline.emulator.dataplane.evals.runner import execute, plan_run
from pipeline.emulator.dataplane.evals.schema import check_data_source_config, item_properties

__all__ = ["router"]

router = APIRouter()


def _metadata(value: Any) -> dict[str, str]:
    if value is None:
        return {}
    if (not isinstance(value, dict) or len(value) > 16
            or any(not isinstance(k, str) or len(k) > 64 or not isinstance(v, str) or len(v) > 512
                   for k, v in value.items())):
        raise AzureError(400, "invalidPayload", "metadata must be at most 16 string pairs (keys <= 64 characters, "
                         "values <= 512).", param="metadata")
    return value


def _name(body: dict[str, Any]) -> Any:
    name = body.get("name")
    if name is not None and not isinstance(name, str):
        raise AzureError(400, "invalidPayload", "'name' must be a string.", param="name")
    return name


def _page(request: Request, items: list[dict[str, Any]]) -> Response:
    """Ordered (`order`, ascending by default) and cursor-paged (`after`, `limit` up to 100)."""
    order = request.query_params.get("order") or "asc"
    if order not in ("asc", "desc"):
        raise AzureError(400, "invalidPayload", "Query parameter 'order' must be 'asc' or 'desc'.", param="order")
    return paged(request, items if order == "asc" else list(reversed(items)), 20, maximum=100)


# ----- evals -----------------------------------------------------------------------------------------------
@router.post("/evals")
async def create_eval(request: Request, ctx: Context, plane: Plane) -> Response:
    body = await json_body(request)
    config = check_data_source_config(body.get("data_source_config"))
    criteria = check_criteria(body.get("testing_criteria"), item_properties(config))
    name = _name(body)
    stored = {"name": name or "eval", "metadata": _metadata(body.get("metadata")),
              "data_source_config": config, "testing_criteria": criteria}
    return json_response(plane.evals.add_eval(ctx.account.name, stored, plane.clock.now()))


@router.get("/evals")
async def list_evals(request: Request, ctx: Context, plane: Plane) -> Response:
    return _page(request, plane.evals.list_evals(ctx.account.name))


@router.get("/evals/{eval_id}")
async def get_eval(eval_id: str, ctx: Context, plane: Plane) -> Response:
    return json_response(plane.evals.get_eval(ctx.account.name, eval_id))


@router.post("/evals/{eval_id}")
async def update_eval(request: Request, eval_id: str, ctx: Context, plane: Plane) -> Response:
    body = await json_body(request)
    current = plane.evals.get_eval(ctx.account.name, eval_id)
    if "name" in body:
        if not isinstance(body["name"], str):
            raise AzureError(400, "invalidPayload", "'name' must be a string.", param="name")
        current["name"] = body["name"]
    if "metadata" in body:
        current["metadata"] = _metadata(body["metadata"])
    return json_response(plane.evals.save_eval(ctx.account.name, current))


@router.delete("/evals/{eval_id}")
async def delete_eval(eval_id: str, ctx: Context, plane: Plane) -> Response:
    plane.evals.delete_eval(ctx.account.name, eval_id)
    return json_response({"object": "eval.deleted", "deleted": True, "eval_id": eval_id})


# ----- runs ------------------------------------------------------------------------------------------------
@router.post("/evals/{eval_id}/runs")
async def create_run(request: Request, eval_id: str, ctx: Context, plane: Plane) -> Response:
    body = await json_body(request)
    account = ctx.account.name
    evaluation = plane.evals.get_eval(account, eval_id)
    run_plan = plan_run(body.get("data_source"), evaluation, plane, account)
    started = plane.clock.now()
    items, error = await run_in_threadpool(execute, run_plan, evaluation["testing_criteria"], plane, account, started)
    name = body.get("name")
    run = {"name": name if isinstance(name, str) and name else f"{run_plan.model or 'jsonl'} run",
           "model": run_plan.model or "", "metadata": _metadata(body.get("metadata")),
           "data_source": body["data_source"],
           "report_url": f"{str(request.base_url).rstrip('/')}/evaluation/{eval_id}/runs",
           "_criteria": [c["name"] for c in evaluation["testing_criteria"]]}
    return json_response(plane.evals.add_run(account, eval_id, run, items, error, started, plane.eval_run_seconds))


@router.get("/evals/{eval_id}/runs")
async def list_runs(request: Request, eval_id: str, ctx: Context, plane: Plane) -> Response:
    items = plane.evals.list_runs(ctx.account.name, eval_id, plane.clock.now())
    status = request.query_params.get("status")
    if status:
        items = [r for r in items if r["status"] == status]
    return _page(request, items)


@router.get("/evals/{eval_id}/runs/{run_id}")
async def get_run(eval_id: str, run_id: str, ctx: Context, plane: Plane) -> Response:
    return json_response(plane.evals.get_run(ctx.account.name, eval_id, run_id, plane.clock.now()))


@router.post("/evals/{eval_id}/runs/{run_id}")  # one Foundry page cancels without /cancel
@router.post("/evals/{eval_id}/runs/{run_id}/cancel")
async def cancel_run(eval_id: str, run_id: str, ctx: Context, plane: Plane) -> Response:
    return json_response(plane.evals.cancel_run(ctx.account.name, eval_id, run_id, plane.clock.now()))


@router.delete("/evals/{eval_id}/runs/{run_id}")
async def delete_run(eval_id: str, run_id: str, ctx: Context, plane: Plane) -> Response:
    plane.evals.delete_run(ctx.account.name, eval_id, run_id)
    return json_response({"object": "eval.run.deleted", "deleted": True, "run_id": run_id})


# ----- output items -----------------------------------------------------------------------------------------
def _items(ctx: Context, plane: Plane, eval_id: str, run_id: str) -> list[dict[str, Any]]:
    return [{k: v for k, v in item.items() if k != "_usage"}
            for item in plane.evals.output_items(ctx.account.name, eval_id, run_id, plane.clock.now())]


@router.get("/evals/{eval_id}/runs/{run_id}/output_items")
async def list_items(request: Request, eval_id: str, run_id: str, ctx: Context, plane: Plane) -> Response:
    items = _items(ctx, plane, eval_id, run_id)
    status = request.query_params.get("status")
    if status:
        if status not in ("pass", "fail"):
            raise AzureError(400, "invalidPayload", "Query parameter 'status' must be 'pass' or 'fail'.",
                             param="status")
        items = [i for i in items if i["status"] == status]
    return _page(request, items)


@router.get("/evals/{eval_id}/runs/{run_id}/output_items/{item_id}")
async def get_item(eval_id: str, run_id: str, item_id: str, ctx: Context, plane: Plane) -> Response:
    for item in _items(ctx, plane, eval_id, run_id):
        if item["id"] == item_id:
            return json_response(item)
    raise AzureError(404, "NotFound", f"Output item with id '{item_id}' not found.")

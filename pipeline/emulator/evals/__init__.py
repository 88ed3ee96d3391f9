"""The Evals API of the emulated account (`/openai/v1/evals`, as Azure OpenAI serves it; also below `/openai`
with a preview api-version): evals, runs, output items and cancel, in Azure's error envelope.

Module map: schema (item schema), templates ({{item.x}} / {{sample.output_text}}), graders (testing criteria),
runner (sampling the deployment and grading), store (sqlite + the run's clock).
"""
from __future__ import annotations

from typing import Any, Awaitable, Callable, Final

from fastapi import APIRouter, Request, Response
from starlette.concurrency import run_in_threadpool

from pipeline.emulator.dataplane.context import PREFIXES, resolve
from pipeline.emulator.dataplane.http import int_param, json_body, json_response, list_body, page
from pipeline.emulator.errors import AzureError
from pipeline.emulator.evals.graders import check_criteria
from pipeline.emulator.evals.runner import execute, plan_run
from pipeline.emulator.evals.schema import check_data_source_config, item_properties
from pipeline.emulator.evals.store import EvalStore
from pipeline.emulator.state import EmulatorState

__all__ = ["build_router"]

RUN_SECONDS_DEFAULT: Final = 2.0
Handler = Callable[..., Awaitable[Response]]


def _metadata(value: Any) -> dict[str, str]:
    if value is None:
        return {}
    if (not isinstance(value, dict) or len(value) > 16
            or any(not isinstance(k, str) or len(k) > 64 or not isinstance(v, str) or len(v) > 512
                   for k, v in value.items())):
        raise AzureError(400, "invalidPayload", "metadata must be at most 16 string pairs (keys <= 64 characters, "
                         "values <= 512).", param="metadata")
    return value


def _ordered(request: Request, items: list[dict[str, Any]], default: str) -> list[dict[str, Any]]:
    order = request.query_params.get("order") or default
    if order not in ("asc", "desc"):
        raise AzureError(400, "invalidPayload", "Query parameter 'order' must be 'asc' or 'desc'.", param="order")
    return items if order == "asc" else list(reversed(items))


def build_router(state: EmulatorState) -> APIRouter:
    store = EvalStore(state.db)
    router = APIRouter()
    now = state.clock.now
    run_seconds = float(getattr(state.config, "eval_run_seconds", RUN_SECONDS_DEFAULT))

    def route(method: str, path: str, handler: Handler) -> None:
        for prefix in PREFIXES:
            router.add_api_route(prefix + path, handler, methods=[method], include_in_schema=False)

    def plane() -> Any:
        return state.dataplane  # type: ignore[attr-defined]

    # ----- evals -------------------------------------------------------------------------------------------
    async def create_eval(request: Request) -> Response:
        ctx = resolve(state, request)
        body = await json_body(request)
        config = check_data_source_config(body.get("data_source_config"))
        criteria = check_criteria(body.get("testing_criteria"), item_properties(config))
        name = body.get("name")
        if name is not None and not isinstance(name, str):
            raise AzureError(400, "invalidPayload", "'name' must be a string.", param="name")
        stored = {"name": name or "eval", "metadata": _metadata(body.get("metadata")),
                  "data_source_config": config, "testing_criteria": criteria}
        return json_response(store.add_eval(ctx.account.name, stored, now()))

    async def list_evals(request: Request) -> Response:
        ctx = resolve(state, request)
        items = _ordered(request, store.list_evals(ctx.account.name), "asc")
        chunk, more = page(items, request.query_params.get("after"), int_param(request, "limit", 20, maximum=100))
        return json_response(list_body(chunk, more))

    async def get_eval(request: Request, eval_id: str) -> Response:
        ctx = resolve(state, request)
        return json_response(store.get_eval(ctx.account.name, eval_id))

    async def update_eval(request: Request, eval_id: str) -> Response:
        ctx = resolve(state, request)
        body = await json_body(request)
        current = store.get_eval(ctx.account.name, eval_id)
        if "name" in body:
            if not isinstance(body["name"], str):
                raise AzureError(400, "invalidPayload", "'name' must be a string.", param="name")
            current["name"] = body["name"]
        if "metadata" in body:
            current["metadata"] = _metadata(body["metadata"])
        return json_response(store.save_eval(ctx.account.name, current))

    async def delete_eval(request: Request, eval_id: str) -> Response:
        ctx = resolve(state, request)
        store.delete_eval(ctx.account.name, eval_id)
        return json_response({"object": "eval.deleted", "deleted": True, "eval_id": eval_id})

    route("POST", "/evals", create_eval)
    route("GET", "/evals", list_evals)
    route("GET", "/evals/{eval_id}", get_eval)
    route("POST", "/evals/{eval_id}", update_eval)
    route("DELETE", "/evals/{eval_id}", delete_eval)

    # ----- runs --------------------------------------------------------------------------------------------
    async def create_run(request: Request, eval_id: str) -> Response:
        ctx = resolve(state, request)
        body = await json_body(request)
        account = ctx.account.name
        evaluation = store.get_eval(account, eval_id)
        plan = plan_run(body.get("data_source"), evaluation, plane(), account)
        started = now()
        items, error = await run_in_threadpool(execute, plan, evaluation["testing_criteria"], plane(), state,
                                               account, started)
        name = body.get("name")
        data_source = body["data_source"]
        run = {"name": name if isinstance(name, str) and name else f"{plan.model or 'jsonl'} run",
               "model": plan.model or "", "metadata": _metadata(body.get("metadata")), "data_source": data_source,
               "report_url": f"{str(request.base_url).rstrip('/')}/evaluation/{eval_id}/runs",
               "_criteria": [c["name"] for c in evaluation["testing_criteria"]]}
        return json_response(store.add_run(account, eval_id, run, items, error, started, run_seconds))

    async def list_runs(request: Request, eval_id: str) -> Response:
        ctx = resolve(state, request)
        items = store.list_runs(ctx.account.name, eval_id, now())
        status = request.query_params.get("status")
        if status:
            items = [r for r in items if r["status"] == status]
        items = _ordered(request, items, "asc")
        chunk, more = page(items, request.query_params.get("after"), int_param(request, "limit", 20, maximum=100))
        return json_response(list_body(chunk, more))

    async def get_run(request: Request, eval_id: str, run_id: str) -> Response:
        ctx = resolve(state, request)
        return json_response(store.get_run(ctx.account.name, eval_id, run_id, now()))

    async def cancel_run(request: Request, eval_id: str, run_id: str) -> Response:
        ctx = resolve(state, request)
        return json_response(store.cancel_run(ctx.account.name, eval_id, run_id, now()))

    async def delete_run(request: Request, eval_id: str, run_id: str) -> Response:
        ctx = resolve(state, request)
        store.delete_run(ctx.account.name, eval_id, run_id)
        return json_response({"object": "eval.run.deleted", "deleted": True, "run_id": run_id})

    route("POST", "/evals/{eval_id}/runs", create_run)
    route("GET", "/evals/{eval_id}/runs", list_runs)
    route("GET", "/evals/{eval_id}/runs/{run_id}", get_run)
    route("POST", "/evals/{eval_id}/runs/{run_id}/cancel", cancel_run)
    route("POST", "/evals/{eval_id}/runs/{run_id}", cancel_run)  # one Foundry page cancels without /cancel
    route("DELETE", "/evals/{eval_id}/runs/{run_id}", delete_run)

    # ----- output items -------------------------------------------------------------------------------------
    def _items(request: Request, eval_id: str, run_id: str) -> list[dict[str, Any]]:
        ctx = resolve(state, request)
        items = [{k: v for k, v in item.items() if k != "_usage"}
                 for item in store.output_items(ctx.account.name, eval_id, run_id, now())]
        return items

    async def list_items(request: Request, eval_id: str, run_id: str) -> Response:
        items = _items(request, eval_id, run_id)
        status = request.query_params.get("status")
        if status:
            if status not in ("pass", "fail"):
                raise AzureError(400, "invalidPayload", "Query parameter 'status' must be 'pass' or 'fail'.",
                                 param="status")
            items = [i for i in items if i["status"] == status]
        items = _ordered(request, items, "asc")
        chunk, more = page(items, request.query_params.get("after"), int_param(request, "limit", 20, maximum=100))
        return json_response(list_body(chunk, more))

    async def get_item(request: Request, eval_id: str, run_id: str, item_id: str) -> Response:
        for item in _items(request, eval_id, run_id):
            if item["id"] == item_id:
                return json_response(item)
        raise AzureError(404, "NotFound", f"Output item with id '{item_id}' not found.")

    route("GET", "/evals/{eval_id}/runs/{run_id}/output_items", list_items)
    route("GET", "/evals/{eval_id}/runs/{run_id}/output_items/{item_id}", get_item)
    return router

"""Small HTTP helpers shared by the data-plane routes: JSON responses, paging, query/body parsing."""
from __future__ import annotations

from typing import Any, Sequence

import orjson
from fastapi import Request, Response

from pipeline.emulator.errors import AzureError


def json_response(body: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    return Response(orjson.dumps(body), status_code=status, media_type="application/json", headers=headers)


def int_param(request: Request, name: str, default: int, *, minimum: int = 1, maximum: int = 10_000) -> int:
    raw = request.query_params.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise AzureError(400, "invalidPayload", f"Query parameter '{name}' must be an integer; got {raw!r}.",
                         param=name) from None
    if not minimum <= value <= maximum:
        raise AzureError(400, "invalidPayload", f"Query parameter '{name}' must be between {minimum} and {maximum}.",
                         param=name)
    return value


def page(items: Sequence[dict[str, Any]], after: str | None, limit: int) -> tuple[list[dict[str, Any]], bool]:
    """Items after the one with id `after` (cursor paging as the SDKs do it), at most `limit`, and has_more."""
    start = 0
    if after:
        for index, item in enumerate(items):
            if item["id"] == after:
                start = index + 1
                break
        else:
            start = len(items)
    chunk = list(items[start:start + limit])
    return chunk, start + limit < len(items)


def list_body(items: list[dict[str, Any]], has_more: bool) -> dict[str, Any]:
    return {"object": "list", "data": items, "has_more": has_more,
            "first_id": items[0]["id"] if items else None, "last_id": items[-1]["id"] if items else None}


def paged(request: Request, items: Sequence[dict[str, Any]], default_limit: int, *,
          maximum: int = 10_000) -> Response:
    """A list response of the page the request's `after` and `limit` ask for."""
    chunk, more = page(items, request.query_params.get("after"),
                       int_param(request, "limit", default_limit, maximum=maximum))
    return json_response(list_body(chunk, more))


async def json_body(request: Request) -> dict[str, Any]:
    try:
        body = orjson.loads(await request.body())
    except orjson.JSONDecodeError as exc:
        raise AzureError(400, "invalidPayload", f"The request body is not valid JSON: {exc}.") from None
    if not isinstance(body, dict):
        raise AzureError(400, "invalidPayload", "The request body must be a JSON object.")
    return body


class CollapseSlashes:
    """ASGI middleware: `//openai/files` -> `/openai/files`. openai==0.28.1 joins an endpoint that ends in
    `/` (as the lab's AZURE_OPENAI_ENDPOINT does) with paths that start with `/`; Azure tolerates it."""

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "http" and "//" in scope["path"]:
            path = scope["path"]
            while "//" in path:
                path = path.replace("//", "/")
            scope = {**scope, "path": path, "raw_path": path.encode()}
        await self.app(scope, receive, send)

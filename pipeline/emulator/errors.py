"""Azure's error envelope. Handlers raise `AzureError`; one exception handler renders it.

Data plane: `{"error": {"code", "message", "param"?, "type"?, "innererror"?}}` (GA spec `ErrorResponse`).
ARM: `{"error": {"code", "message", "target"?, "details"?}}` (common-types ErrorResponse). Same outer shape.
"""
from __future__ import annotations

import logging
from typing import Any, Awaitable, Callable

from fastapi import Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

log = logging.getLogger("aoai_ft.emulator")

# Starlette's own refusals (no route, wrong method, a malformed multipart body...) in Azure's words.
_HTTP_CODES: dict[int, str] = {
    400: "invalidPayload", 401: "unauthorized", 403: "forbidden", 404: "404", 405: "methodNotAllowed",
    413: "invalidPayload", 415: "invalidPayload", 422: "invalidPayload", 429: "tooManyRequests",
}


class AzureError(Exception):
    def __init__(
        self,
        status: int,
        code: str,
        message: str,
        *,
        param: str | None = None,
        target: str | None = None,
        headers: dict[str, str] | None = None,
        extra: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(message)
        self.status, self.code, self.message = status, code, message
        self.param, self.target = param, target
        self.headers = headers or {}
        self.extra = extra or {}

    def body(self) -> dict[str, Any]:
        err: dict[str, Any] = {"code": self.code, "message": self.message}
        if self.param is not None:
            err["param"] = self.param
        if self.target is not None:
            err["target"] = self.target
        err.update(self.extra)
        return {"error": err}


def not_found(what: str, ident: str, code: str = "NotFound") -> AzureError:
    return AzureError(404, code, f"The {what} '{ident}' could not be found.")


async def azure_error_handler(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, AzureError)
    return JSONResponse(exc.body(), status_code=exc.status, headers=exc.headers)


async def validation_error_handler(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    first = exc.errors()[0] if exc.errors() else {}
    where = ".".join(str(p) for p in first.get("loc", ()) if p != "body")
    message = f"Invalid request: {where or 'body'}: {first.get('msg', 'invalid value')}"
    return JSONResponse(
        {"error": {"code": "invalidPayload", "message": message, "param": where or None}}, status_code=400
    )


async def http_exception_handler(_: Request, exc: Exception) -> JSONResponse:
    """Starlette's HTTPException (404 no route, 405, multipart parse errors) as Azure's envelope, not `{"detail"}`."""
    assert isinstance(exc, StarletteHTTPException)
    if exc.status_code == 404:
        message = "Resource not found"
    elif exc.status_code == 405:
        message = "The requested method is not allowed on this resource."
    else:
        message = str(exc.detail) if exc.detail else "The request is invalid."
        if not message.endswith("."):
            message += "."
    code = _HTTP_CODES.get(exc.status_code, "invalidPayload" if exc.status_code < 500 else "internalFailure")
    return JSONResponse({"error": {"code": code, "message": message}}, status_code=exc.status_code,
                        headers=dict(exc.headers or {}))


Scope = dict[str, Any]
ASGIApp = Callable[[Scope, Any, Any], Awaitable[None]]
INTERNAL_ERROR = b'{"error":{"code":"internalFailure","message":"The emulator failed to handle the request."}}'


class InternalErrors:
    """ASGI middleware: an unexpected exception becomes a 500 in Azure's envelope and one log record, and the
    keep-alive connection stays usable (Starlette's default re-raises, so uvicorn resets the connection)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = False

        async def tracking_send(message: dict[str, Any]) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, receive, tracking_send)
        except Exception:
            log.exception("unexpected error in %s %s", scope.get("method"), scope.get("path"))
            if started:
                raise
            await send({"type": "http.response.start", "status": 500,
                        "headers": [(b"content-type", b"application/json"),
                                    (b"content-length", str(len(INTERNAL_ERROR)).encode())]})
            await send({"type": "http.response.body", "body": INTERNAL_ERROR})

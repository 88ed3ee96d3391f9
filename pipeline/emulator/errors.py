"""Azure's error envelope. Handlers raise `AzureError`; one exception handler renders it.

Data plane: `{"error": {"code", "message", "param"?, "type"?, "innererror"?}}` (GA spec `ErrorResponse`).
ARM: `{"error": {"code", "message", "target"?, "details"?}}` (common-types ErrorResponse). Same outer shape.
"""
from __future__ import annotations

from typing import Any

from fastapi import Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse


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

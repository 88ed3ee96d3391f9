"""The tests' own HTTP calls (raw httpx, beside the SDKs under test), all on one TLS context.

httpx loads the CA bundle for every client it makes, and each `httpx.get(...)` makes one: ~35 ms of CPU per call,
although these calls go to servers on loopback over plain HTTP. Same signatures as httpx's functions.
"""
from __future__ import annotations

from typing import Any

import httpx

from pipeline.clients import tls_context


def request(method: str, url: str, **kwargs: Any) -> httpx.Response:
    return httpx.request(method, url, verify=tls_context(), **kwargs)


def get(url: str, **kwargs: Any) -> httpx.Response:
    return request("GET", url, **kwargs)


def post(url: str, **kwargs: Any) -> httpx.Response:
    return request("POST", url, **kwargs)


def put(url: str, **kwargs: Any) -> httpx.Response:
    return request("PUT", url, **kwargs)


def patch(url: str, **kwargs: Any) -> httpx.Response:
    return request("PATCH", url, **kwargs)


def delete(url: str, **kwargs: Any) -> httpx.Response:
    return request("DELETE", url, **kwargs)


def Client(**kwargs: Any) -> httpx.Client:  # noqa: N802 - stands in for httpx.Client
    return httpx.Client(verify=tls_context(), **kwargs)

"""Build the official `openai` SDK client for an Azure OpenAI endpoint (or the emulator, which is just another URL).

Settings are explicit values; only `ConnectionSettings.from_env()` reads the environment. HTTP retries and
back-off are the SDK's own (`max_retries`), never a hand-written loop. `service_errors()` turns SDK exceptions
into `ServiceError`s with a hint, so the CLI shows a message instead of a traceback.
"""
from __future__ import annotations

import os
import ssl
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from functools import cache
from typing import TYPE_CHECKING
from urllib.parse import urlparse

import openai
from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError, field_validator

from pipeline import envnames
from pipeline.errors import ServiceError, UsageError, first_problem
from pipeline.training_settings import PREVIEW_API_VERSION

if TYPE_CHECKING:
    from azure.core.credentials import TokenCredential

DEFAULT_API_VERSION = "2024-10-21"  # newest dated GA of the data plane (Learn: API version lifecycle)
ENTRA_SCOPE = "https://cognitiveservices.azure.com/.default"


class ConnectionSettings(BaseModel):
    """Where the Azure OpenAI data plane is and how to authenticate (no key = Entra ID via azure-identity)."""

    model_config = ConfigDict(frozen=True)

    endpoint: str
    api_key: SecretStr | None = None
    api_version: str = DEFAULT_API_VERSION
    max_retries: int = Field(5, ge=0)
    timeout: float = Field(60, gt=0)

    @field_validator("endpoint")
    @classmethod
    def _endpoint_is_url(cls, value: str) -> str:
        parsed = urlparse(value.strip())
        if parsed.scheme not in ("http", "https") or not parsed.netloc:
            raise ValueError(f"endpoint must be an http(s) URL like https://<name>.openai.azure.com/, got {value!r}")
        return value.strip()

    @field_validator("api_version", mode="before")
    @classmethod
    def _api_version_stripped(cls, value: object) -> object:
        """Stripped like the endpoint (a copied value often ends in a space); blank means the default."""
        if isinstance(value, str):
            return value.strip() or DEFAULT_API_VERSION
        return value

    @field_validator("api_key", mode="before")
    @classmethod
    def _blank_key_is_none(cls, value: object) -> object:
        if isinstance(value, str) and not value.strip():
            return None
        return value

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None, **overrides: object) -> "ConnectionSettings":
        """Settings from AZURE_OPENAI_ENDPOINT / AZURE_OPENAI_API_KEY / OPENAI_API_VERSION; `overrides` win when not None."""
        env = os.environ if environ is None else environ
        values: dict[str, object] = {
            "endpoint": env.get(envnames.AZURE_OPENAI_ENDPOINT),
            "api_key": env.get(envnames.AZURE_OPENAI_API_KEY),
            "api_version": env.get(envnames.OPENAI_API_VERSION),
        }
        values.update({k: v for k, v in overrides.items() if v is not None})
        values = {k: v for k, v in values.items() if v not in (None, "")}
        if "endpoint" not in values:
            raise UsageError(
                "no Azure OpenAI endpoint given",
                hint=f"pass --endpoint or set {envnames.AZURE_OPENAI_ENDPOINT} "
                     "(`eval \"$(aoai-ft env)\"` sets it from the stack's outputs)",
            )
        try:
            return cls.model_validate(values)
        except ValidationError as exc:  # one line naming the setting, not pydantic's multi-line dump
            raise UsageError(f"invalid connection settings: {first_problem(exc)}",
                             hint=f"check --endpoint / {envnames.AZURE_OPENAI_ENDPOINT}") from None


@cache
def tls_context() -> ssl.SSLContext:
    """The SDK's HTTP library's default TLS context (the CA bundle from SSL_CERT_FILE / SSL_CERT_DIR, else its
    own), made once per process: loading the CA bundle costs ~30 ms of CPU, which every new client would pay
    again."""
    try:
        import httpx2 as http  # what openai 3.x sends requests with
    except ImportError:
        import httpx as http
    return http.create_ssl_context()


class _HttpClient(openai.DefaultHttpxClient):
    """The SDK's default HTTP client (its timeouts, connection limits, redirects) on the shared TLS context,
    closed when dropped, as the SDK closes the client it makes itself."""

    def __del__(self) -> None:
        try:
            self.close()
        except Exception:  # at interpreter exit the transport may be half torn down already
            pass


def http_client() -> openai.DefaultHttpxClient:
    """A new HTTP client for an `openai` SDK client (its own connections, the process's TLS context)."""
    return _HttpClient(verify=tls_context())


def openai_client(settings: ConnectionSettings, *, credential: "TokenCredential | None" = None) -> openai.AzureOpenAI:
    """An `AzureOpenAI` client: key auth when a key is set, otherwise an Entra ID bearer token from `credential`
    (default `pipeline.credentials.azure_credential()`: the azure-native provider's ARM_* identity, else
    DefaultAzureCredential) for the Cognitive Services scope."""
    common = dict(azure_endpoint=settings.endpoint, api_version=settings.api_version,
                  max_retries=settings.max_retries, timeout=settings.timeout, http_client=http_client())
    if settings.api_key is not None:
        return openai.AzureOpenAI(api_key=settings.api_key.get_secret_value(), **common)
    from azure.identity import get_bearer_token_provider

    from pipeline.credentials import azure_credential

    provider = get_bearer_token_provider(credential or azure_credential(), ENTRA_SCOPE)
    return openai.AzureOpenAI(azure_ad_token_provider=provider, **common)


def _envelope(exc: openai.APIStatusError) -> tuple[str | None, str | None]:
    """(code, message) of Azure's error envelope `{"error": {"code", "message"}}`, None where missing."""
    body = exc.body if isinstance(exc.body, dict) else {}
    err = body.get("error", body) if isinstance(body, dict) else {}
    code = (err or {}).get("code") if isinstance(err, dict) else None
    message = (err or {}).get("message") if isinstance(err, dict) else None
    return (str(code) if code is not None else None), (str(message) if message else None)


def describe_api_error(exc: openai.APIError) -> str:
    """`code: message` from Azure's error envelope, falling back to the SDK's text."""
    if isinstance(exc, openai.APIStatusError):
        code, message = _envelope(exc)
        if message:
            return f"{code}: {message}" if code else str(message)
        return f"HTTP {exc.status_code}: {exc.message}"
    return str(exc) or type(exc).__name__


def first_line(text: str) -> str:
    """Azure SDK messages can span dozens of lines (DefaultAzureCredential lists every credential it tried)."""
    return next((line.strip() for line in text.splitlines() if line.strip()), "")


def describe_connection_error(exc: openai.APIConnectionError) -> tuple[str, str]:
    """(what failed, hint) naming the URL and how many retries the SDK really made (from the request it sent)."""
    request = getattr(exc, "request", None)
    url = request.url if request is not None else None
    where = f"{url.scheme}://{url.netloc.decode() if isinstance(url.netloc, bytes) else url.netloc}" if url else "the service"
    retries = int(request.headers.get("x-stainless-retry-count", "0") or 0) if request is not None else 0
    cause = exc.__cause__ or exc.__context__
    reason = first_line(str(cause)) if cause is not None and str(cause) else first_line(str(exc))
    tried = f"after {retries} {'retry' if retries == 1 else 'retries'}" if retries else "no retries (--max-retries 0)"
    timed_out = isinstance(exc, openai.APITimeoutError)
    what = f"{'timed out talking to' if timed_out else 'cannot reach'} {where} ({reason}; {tried})"
    if _certificate_rejected(exc):
        return what, ("the service's TLS certificate was not trusted: on a network whose proxy re-signs TLS, point "
                      "SSL_CERT_FILE at a CA bundle that holds the proxy's certificate")
    return what, "check the endpoint URL (--endpoint / AZURE_OPENAI_ENDPOINT) and that the service is up"


def _certificate_rejected(exc: BaseException) -> bool:
    """Whether a certificate verification failure is among the causes of `exc`."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        if isinstance(current, ssl.SSLCertVerificationError):
            return True
        seen.add(id(current))
        current = current.__cause__ or current.__context__
    return False


API_VERSIONS = (f"a dated version such as {DEFAULT_API_VERSION} (the default when it is unset) or "
                f"{PREVIEW_API_VERSION}")


def status_hint(exc: openai.APIStatusError) -> str | None:
    """What to check for a 404, a 400 about the api-version, or a 5xx (other statuses: None). Azure answers a path
    it does not serve (an endpoint with a path after it, or an api-version it does not know) with code "404"
    "Resource not found", and a missing job, file or deployment with a code of its own (notFound, ...)."""
    code, message = _envelope(exc)
    if exc.status_code == 404 and code in (None, "404"):
        return (f"check the endpoint (--endpoint / {envnames.AZURE_OPENAI_ENDPOINT}): the resource's URL, "
                "https://NAME.openai.azure.com/, with no path such as /openai/v1 after it; and the api-version "
                f"(--api-version / {envnames.OPENAI_API_VERSION}): {API_VERSIONS}")
    if exc.status_code == 404:
        return ("check the id or name: it must exist on this endpoint's resource (`aoai-ft status` lists the "
                "fine-tuning jobs)")
    if exc.status_code == 400 and "api version" in (message or "").lower():
        return f"set --api-version / {envnames.OPENAI_API_VERSION} to {API_VERSIONS}"
    if exc.status_code >= 500:
        return ("the service failed, also on the retries (--max-retries, 5 by default); nothing is lost: run the "
                "same command again in a few minutes")
    return None


@contextmanager
def service_errors(action: str) -> Iterator[None]:
    """Re-raise SDK failures while doing `action` as `ServiceError` with a hint that fits the status."""
    from azure.core.exceptions import ClientAuthenticationError

    try:
        yield
    except ClientAuthenticationError as exc:  # no key, and azure-identity found no sign-in to get a token from
        raise ServiceError(
            f"{action}: no API key is set and no Entra ID sign-in is available ({first_line(exc.message or str(exc))})",
            hint=f"set {envnames.AZURE_OPENAI_API_KEY} (or pass --api-key), or sign in with `az login` "
                 "(or set AZURE_CLIENT_ID/AZURE_TENANT_ID/AZURE_CLIENT_SECRET, or use a managed identity)",
        ) from exc
    except openai.APIConnectionError as exc:
        what, hint = describe_connection_error(exc)
        raise ServiceError(f"{action}: {what}", hint=hint) from exc
    except openai.AuthenticationError as exc:
        raise ServiceError(f"{action}: {describe_api_error(exc)}",
                           hint=f"check the API key ({envnames.AZURE_OPENAI_API_KEY} / --api-key), or unset it "
                                "and sign in with `az login` for Entra ID") from exc
    except openai.PermissionDeniedError as exc:
        raise ServiceError(f"{action}: {describe_api_error(exc)}",
                           hint="your identity needs the 'Cognitive Services OpenAI Contributor' role on the "
                                "account (role assignments can take ~10 minutes to apply)") from exc
    except openai.RateLimitError as exc:
        raise ServiceError(f"{action}: {describe_api_error(exc)}",
                           hint="the service is throttling or at its job quota; try again later") from exc
    except openai.APIStatusError as exc:
        raise ServiceError(f"{action}: {describe_api_error(exc)}", hint=status_hint(exc)) from exc
    except openai.APIError as exc:
        raise ServiceError(f"{action}: {describe_api_error(exc)}") from exc

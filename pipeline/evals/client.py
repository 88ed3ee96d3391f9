"""An `openai.OpenAI` client on the account's v1 surface (`{endpoint}/openai/v1/`), where Azure serves evals.

Key auth sends the key both as `api-key` and as the bearer token (Azure's v1 accepts either); without a key the
bearer token is an Entra ID token for the Cognitive Services scope, fetched per request by the SDK.
"""
from __future__ import annotations

from typing import TYPE_CHECKING

import openai

from pipeline.clients import ENTRA_SCOPE, ConnectionSettings, http_client

if TYPE_CHECKING:
    from azure.core.credentials import TokenCredential


def v1_base_url(endpoint: str) -> str:
    base = endpoint.rstrip("/")
    for suffix in ("/openai/v1", "/openai"):
        base = base.removesuffix(suffix)
    return base + "/openai/v1/"


def evals_client(settings: ConnectionSettings, *, credential: "TokenCredential | None" = None) -> openai.OpenAI:
    common = dict(base_url=v1_base_url(settings.endpoint), max_retries=settings.max_retries, timeout=settings.timeout,
                  http_client=http_client())
    if settings.api_key is not None:
        key = settings.api_key.get_secret_value()
        return openai.OpenAI(api_key=key, default_headers={"api-key": key}, **common)
    from azure.identity import get_bearer_token_provider

    from pipeline.credentials import azure_credential

    provider = get_bearer_token_provider(credential or azure_credential(), ENTRA_SCOPE)
    return openai.OpenAI(api_key=provider, **common)


def evals_client_for(client: openai.AzureOpenAI) -> openai.OpenAI:
    """The v1 client for the same account and sign-in as an `AzureOpenAI` client the CLI already built."""
    endpoint = str(client.base_url)
    common = dict(base_url=v1_base_url(endpoint), max_retries=client.max_retries, timeout=client.timeout,
                  http_client=http_client())
    provider = getattr(client, "_azure_ad_token_provider", None)
    if provider is not None:
        return openai.OpenAI(api_key=provider, **common)
    key = client.api_key
    return openai.OpenAI(api_key=key, default_headers={"api-key": key}, **common)

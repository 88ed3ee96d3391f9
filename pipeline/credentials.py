"""One Azure credential for everything the project runs: the same identity the azure-native provider uses.

azure-native reads `ARM_*` variables (Pulumi ESC's `azure-login`, the GitHub workflows); azure-identity's
DefaultAzureCredential reads `AZURE_*` ones and would silently pick another identity (or none) on a CI runner.
`azure_credential()` reads the provider's variables in the provider's order, so the soft-delete guard, training
and the smoke test act as the identity that created the resources:

1. `ARM_USE_DEFAULT_AZURE_CREDENTIAL=true` -> DefaultAzureCredential
2. `ARM_CLIENT_CERTIFICATE_PATH` (+ `ARM_CLIENT_CERTIFICATE_PASSWORD`) -> CertificateCredential
3. `ARM_CLIENT_SECRET` -> ClientSecretCredential
4. `ARM_USE_OIDC=true` -> ClientAssertionCredential with `ARM_OIDC_TOKEN`, else the file `ARM_OIDC_TOKEN_FILE_PATH`,
   else GitHub's exchange `ARM_OIDC_REQUEST_URL`/`ARM_OIDC_REQUEST_TOKEN` (or GitHub's own
   `ACTIONS_ID_TOKEN_REQUEST_URL`/`ACTIONS_ID_TOKEN_REQUEST_TOKEN`, which azure-native reads), audience
   `ARM_OIDC_AUDIENCE` (default api://AzureADTokenExchange)
5. `ARM_USE_MSI=true` -> ManagedIdentityCredential (user-assigned when `ARM_CLIENT_ID` is set)
6. otherwise DefaultAzureCredential (AZURE_* variables, workload identity, managed identity, `az login`; azure-native
   itself falls back to `az login` here)

`ARM_ENVIRONMENT` (public, usgovernment, china) picks the Entra authority. Source of the names, order and checks:
pulumi/pulumi-azure-native provider/pkg/provider/auth_azidentity.go (`readAuthConfig`, `newSingleMethodAuthCredential`).
"""
from __future__ import annotations

import json
import os
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Final, Literal

from pipeline.errors import UsageError

if TYPE_CHECKING:
    from azure.core.credentials import TokenCredential

ARM_CLIENT_ID: Final = "ARM_CLIENT_ID"
ARM_TENANT_ID: Final = "ARM_TENANT_ID"
ARM_CLIENT_SECRET: Final = "ARM_CLIENT_SECRET"
ARM_CLIENT_CERTIFICATE_PATH: Final = "ARM_CLIENT_CERTIFICATE_PATH"
ARM_CLIENT_CERTIFICATE_PASSWORD: Final = "ARM_CLIENT_CERTIFICATE_PASSWORD"
ARM_USE_OIDC: Final = "ARM_USE_OIDC"
ARM_OIDC_TOKEN: Final = "ARM_OIDC_TOKEN"
ARM_OIDC_TOKEN_FILE_PATH: Final = "ARM_OIDC_TOKEN_FILE_PATH"
ARM_OIDC_REQUEST_URL: Final = "ARM_OIDC_REQUEST_URL"
ARM_OIDC_REQUEST_TOKEN: Final = "ARM_OIDC_REQUEST_TOKEN"
ACTIONS_ID_TOKEN_REQUEST_URL: Final = "ACTIONS_ID_TOKEN_REQUEST_URL"
ACTIONS_ID_TOKEN_REQUEST_TOKEN: Final = "ACTIONS_ID_TOKEN_REQUEST_TOKEN"
ARM_OIDC_AUDIENCE: Final = "ARM_OIDC_AUDIENCE"
ARM_USE_MSI: Final = "ARM_USE_MSI"
ARM_USE_DEFAULT_AZURE_CREDENTIAL: Final = "ARM_USE_DEFAULT_AZURE_CREDENTIAL"
ARM_ENVIRONMENT: Final = "ARM_ENVIRONMENT"

DEFAULT_OIDC_AUDIENCE: Final = "api://AzureADTokenExchange"
AUTHORITY_HOSTS: Final[Mapping[str, str]] = {
    "public": "login.microsoftonline.com",
    "usgovernment": "login.microsoftonline.us",
    "china": "login.chinacloudapi.cn",
}
"""Entra authority per ARM_ENVIRONMENT name (azure-identity's AzureAuthorityHosts)."""

Method = Literal["default", "certificate", "secret", "oidc", "msi", "fallback"]


@dataclass(frozen=True)
class CredentialChoice:
    """Which sign-in the ARM_* variables select, and whether it is a service principal (for principalType)."""

    method: Method
    variable: str
    """The variable that decided it (for messages), or "" for the fallback."""

    @property
    def is_service_principal(self) -> bool | None:
        """True for app/managed identities; None when the fallback could be a user or an app (`az login`)."""
        return True if self.method in ("certificate", "secret", "oidc", "msi") else None


def _flag(env: Mapping[str, str], name: str) -> bool:
    """azure-native enables a feature only for the exact string "true"; anything but true/false/empty is a typo."""
    value = env.get(name, "").strip()
    if value.lower() not in ("", "true", "false"):
        raise UsageError(f"{name}={value!r} is neither true nor false",
                         hint=f"set {name}=true to use it, or unset it (azure-native reads only the value 'true')")
    return value.lower() == "true"


def credential_choice(environ: Mapping[str, str] | None = None) -> CredentialChoice:
    """The sign-in method the ARM_* variables select, in azure-native's order (no network, no objects)."""
    env = os.environ if environ is None else environ
    if _flag(env, ARM_USE_DEFAULT_AZURE_CREDENTIAL):
        return CredentialChoice("default", ARM_USE_DEFAULT_AZURE_CREDENTIAL)
    if env.get(ARM_CLIENT_CERTIFICATE_PATH):
        return CredentialChoice("certificate", ARM_CLIENT_CERTIFICATE_PATH)
    if env.get(ARM_CLIENT_SECRET):
        return CredentialChoice("secret", ARM_CLIENT_SECRET)
    if _flag(env, ARM_USE_OIDC):
        return CredentialChoice("oidc", ARM_USE_OIDC)
    if _flag(env, ARM_USE_MSI):
        return CredentialChoice("msi", ARM_USE_MSI)
    return CredentialChoice("fallback", "")


def authority_host(environ: Mapping[str, str] | None = None) -> str | None:
    """The Entra authority host for ARM_ENVIRONMENT; None when unset (azure-identity's default, which honours
    AZURE_AUTHORITY_HOST, is the public cloud)."""
    env = os.environ if environ is None else environ
    name = env.get(ARM_ENVIRONMENT, "").strip().lower()
    if not name:
        return None
    if name not in AUTHORITY_HOSTS:
        raise UsageError(f"{ARM_ENVIRONMENT}={name!r} is not an Azure cloud this project knows",
                         hint=f"use one of {', '.join(AUTHORITY_HOSTS)} (or unset it for the public cloud)")
    return AUTHORITY_HOSTS[name]


def _require(env: Mapping[str, str], names: tuple[str, ...], why: str) -> tuple[str, ...]:
    missing = [name for name in names if not env.get(name, "").strip()]
    if missing:
        raise UsageError(f"{why} needs {' and '.join(missing)}",
                         hint=f"set {', '.join(missing)} (the same values the azure-native provider uses), "
                              f"or unset the variable that selects {why}")
    return tuple(env[name].strip() for name in names)


def azure_credential(environ: Mapping[str, str] | None = None) -> TokenCredential:
    """A TokenCredential for the identity azure-native signs in as (see the module docstring for the order)."""
    env = os.environ if environ is None else environ
    choice = credential_choice(env)
    host = authority_host(env)
    authority: dict[str, str] = {"authority": host} if host else {}
    import azure.identity as identity

    if choice.method == "certificate":
        tenant, client = _require(env, (ARM_TENANT_ID, ARM_CLIENT_ID), "client-certificate sign-in")
        path = Path(env[ARM_CLIENT_CERTIFICATE_PATH]).expanduser()
        if not path.is_file():
            raise UsageError(f"{ARM_CLIENT_CERTIFICATE_PATH}={str(path)!r} is not a file",
                             hint="point it at the service principal's PFX/PEM certificate")
        return identity.CertificateCredential(tenant, client, certificate_path=str(path),
                                              password=env.get(ARM_CLIENT_CERTIFICATE_PASSWORD) or None,
                                              **authority)
    if choice.method == "secret":
        tenant, client = _require(env, (ARM_TENANT_ID, ARM_CLIENT_ID), "client-secret sign-in")
        return identity.ClientSecretCredential(tenant, client, env[ARM_CLIENT_SECRET], **authority)
    if choice.method == "oidc":
        tenant, client = _require(env, (ARM_TENANT_ID, ARM_CLIENT_ID), f"{ARM_USE_OIDC}=true")
        return identity.ClientAssertionCredential(tenant, client, oidc_assertion(env), **authority)
    if choice.method == "msi":
        client_id = env.get(ARM_CLIENT_ID, "").strip() or None
        return identity.ManagedIdentityCredential(client_id=client_id)
    return identity.DefaultAzureCredential(**authority)


def oidc_assertion(environ: Mapping[str, str]) -> Callable[[], str]:
    """The federated token source for ARM_USE_OIDC: a token, a token file (re-read each time: it is rotated), or
    GitHub's token exchange. Misconfiguration is a UsageError now, not a failed `pulumi up` later."""
    token = environ.get(ARM_OIDC_TOKEN, "").strip()
    if token:
        return lambda: token
    file_path = environ.get(ARM_OIDC_TOKEN_FILE_PATH, "").strip()
    if file_path:
        path = Path(file_path).expanduser()
        if not path.is_file():
            raise UsageError(f"{ARM_OIDC_TOKEN_FILE_PATH}={file_path!r} is not a file",
                             hint="point it at the federated token file, or set ARM_OIDC_TOKEN instead")
        return lambda: path.read_text().strip()
    url = environ.get(ARM_OIDC_REQUEST_URL) or environ.get(ACTIONS_ID_TOKEN_REQUEST_URL) or ""
    bearer = environ.get(ARM_OIDC_REQUEST_TOKEN) or environ.get(ACTIONS_ID_TOKEN_REQUEST_TOKEN) or ""
    if url and bearer:
        audience = environ.get(ARM_OIDC_AUDIENCE) or DEFAULT_OIDC_AUDIENCE
        return lambda: github_id_token(url, bearer, audience)
    raise UsageError(
        f"{ARM_USE_OIDC}=true but there is no OIDC token to sign in with",
        hint=f"set {ARM_OIDC_TOKEN} (Pulumi ESC: ${{azure.login.oidc.token}}) or {ARM_OIDC_TOKEN_FILE_PATH}; in GitHub "
             "Actions give the job `permissions: id-token: write` so ACTIONS_ID_TOKEN_REQUEST_URL/_TOKEN are set",
    )


def github_id_token(url: str, bearer: str, audience: str, *, timeout: float = 30.0) -> str:
    """Exchange GitHub's request token for an ID token with the given audience (GitHub's documented OIDC flow)."""
    from azure.core.exceptions import ClientAuthenticationError

    parts = urllib.parse.urlsplit(url)
    query = urllib.parse.urlencode([*urllib.parse.parse_qsl(parts.query), ("audience", audience)])
    request = urllib.request.Request(urllib.parse.urlunsplit(parts._replace(query=query)),
                                     headers={"Authorization": f"Bearer {bearer}", "Accept": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:  # noqa: S310 (URL from the CI runner)
            value = json.loads(response.read()).get("value")
    except (urllib.error.URLError, OSError, ValueError, AttributeError) as exc:
        raise ClientAuthenticationError(f"GitHub OIDC token request to {parts.netloc} failed: {exc}") from exc
    if not isinstance(value, str) or not value:
        raise ClientAuthenticationError("GitHub OIDC token response has no 'value'")
    return value

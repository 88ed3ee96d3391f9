"""`azure_credential()` picks the identity azure-native would, from the same ARM_* variables.

The managed-identity path is proven end to end against the emulator (tests/pipeline/emulator/test_dataplane_rbac.py);
here: the selection order, the azure-identity class and its settings, GitHub's token exchange over a local HTTP
server, and a UsageError naming the variable for each misconfiguration."""
from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path
from typing import Any

import pytest
from azure.core.exceptions import ClientAuthenticationError
from azure.identity import (
    CertificateCredential,
    ClientAssertionCredential,
    ClientSecretCredential,
    DefaultAzureCredential,
    ManagedIdentityCredential,
)

from pipeline import credentials as creds
from pipeline.errors import UsageError

SP = {"ARM_CLIENT_ID": "00000000-0000-0000-0000-0000000000c1", "ARM_TENANT_ID": "00000000-0000-0000-0000-0000000000d1"}


def test_no_arm_variables_fall_back_to_default_credential() -> None:
    assert isinstance(creds.azure_credential({}), DefaultAzureCredential)
    assert creds.credential_choice({}).is_service_principal is None


def test_client_secret() -> None:
    credential = creds.azure_credential({**SP, "ARM_CLIENT_SECRET": "s3cret"})
    assert isinstance(credential, ClientSecretCredential)
    assert credential._client_id == SP["ARM_CLIENT_ID"] and credential._tenant_id == SP["ARM_TENANT_ID"]


def test_client_secret_without_tenant_names_the_variable() -> None:
    with pytest.raises(UsageError, match="ARM_TENANT_ID") as info:
        creds.azure_credential({"ARM_CLIENT_ID": "c", "ARM_CLIENT_SECRET": "s"})
    assert "client-secret" in str(info.value)


def test_certificate_wins_over_secret_like_azure_native(tmp_path: Path) -> None:
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import rsa
    from cryptography.x509.oid import NameOID
    import datetime

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "sp")])
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(1).not_valid_before(now).not_valid_after(now + datetime.timedelta(days=1))
            .sign(key, hashes.SHA256()))
    pem = tmp_path / "sp.pem"
    pem.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                      serialization.NoEncryption()) + cert.public_bytes(serialization.Encoding.PEM))
    env = {**SP, "ARM_CLIENT_CERTIFICATE_PATH": str(pem), "ARM_CLIENT_SECRET": "ignored"}
    assert isinstance(creds.azure_credential(env), CertificateCredential)
    with pytest.raises(UsageError, match="ARM_CLIENT_CERTIFICATE_PATH"):
        creds.azure_credential({**env, "ARM_CLIENT_CERTIFICATE_PATH": str(tmp_path / "missing.pfx")})


def test_oidc_with_a_token_and_with_a_file_that_is_reread(tmp_path: Path) -> None:
    credential = creds.azure_credential({**SP, "ARM_USE_OIDC": "true", "ARM_OIDC_TOKEN": "eyJ.token"})
    assert isinstance(credential, ClientAssertionCredential)
    token_file = tmp_path / "token"
    token_file.write_text("first\n")
    assertion = creds.oidc_assertion({"ARM_OIDC_TOKEN_FILE_PATH": str(token_file)})
    assert assertion() == "first"
    token_file.write_text("rotated")
    assert assertion() == "rotated"


def test_oidc_without_any_token_source_says_how_to_fix_it() -> None:
    with pytest.raises(UsageError, match="no OIDC token") as info:
        creds.azure_credential({**SP, "ARM_USE_OIDC": "true"})
    assert "ARM_OIDC_TOKEN" in str(info.value) and "id-token: write" in str(info.value)
    with pytest.raises(UsageError, match="ARM_CLIENT_ID"):
        creds.azure_credential({"ARM_TENANT_ID": "t", "ARM_USE_OIDC": "true", "ARM_OIDC_TOKEN": "x"})


def test_a_flag_that_is_not_true_or_false_is_a_usage_error() -> None:
    with pytest.raises(UsageError, match="ARM_USE_OIDC='1'"):
        creds.azure_credential({**SP, "ARM_USE_OIDC": "1"})
    assert creds.credential_choice({"ARM_USE_OIDC": "false"}).method == "fallback"


def test_managed_identity_system_and_user_assigned() -> None:
    assert isinstance(creds.azure_credential({"ARM_USE_MSI": "true"}), ManagedIdentityCredential)
    choice = creds.credential_choice({"ARM_USE_MSI": "true", "ARM_CLIENT_ID": "c"})
    assert choice.method == "msi" and choice.is_service_principal is True


def test_use_default_azure_credential_wins() -> None:
    env = {**SP, "ARM_USE_DEFAULT_AZURE_CREDENTIAL": "true", "ARM_CLIENT_SECRET": "s"}
    assert isinstance(creds.azure_credential(env), DefaultAzureCredential)


def test_environment_selects_the_authority() -> None:
    assert creds.authority_host({"ARM_ENVIRONMENT": "usgovernment"}) == "login.microsoftonline.us"
    assert creds.authority_host({}) is None
    credential = creds.azure_credential({**SP, "ARM_CLIENT_SECRET": "s", "ARM_ENVIRONMENT": "china"})
    assert "chinacloudapi.cn" in credential._authority  # type: ignore[attr-defined]
    with pytest.raises(UsageError, match="ARM_ENVIRONMENT"):
        creds.azure_credential({"ARM_ENVIRONMENT": "mars"})


class _GitHubOidc(BaseHTTPRequestHandler):
    seen: list[dict[str, Any]] = []

    def do_GET(self) -> None:  # noqa: N802
        _GitHubOidc.seen.append({"path": self.path, "auth": self.headers.get("Authorization")})
        if self.headers.get("Authorization") != "Bearer runner-request-token":
            self.send_response(401)
            self.end_headers()
            return
        body = json.dumps({"value": "github-id-token"}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def github_oidc() -> Iterator[str]:
    server = HTTPServer(("127.0.0.1", 0), _GitHubOidc)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    _GitHubOidc.seen.clear()
    try:
        yield f"http://127.0.0.1:{server.server_port}/token?api-version=2.0"
    finally:
        server.shutdown()


def test_github_exchange_from_actions_variables(github_oidc: str) -> None:
    env = {"ACTIONS_ID_TOKEN_REQUEST_URL": github_oidc, "ACTIONS_ID_TOKEN_REQUEST_TOKEN": "runner-request-token"}
    assert creds.oidc_assertion(env)() == "github-id-token"
    [call] = _GitHubOidc.seen
    assert "audience=api%3A%2F%2FAzureADTokenExchange" in call["path"] and "api-version=2.0" in call["path"]
    custom = {"ARM_OIDC_REQUEST_URL": github_oidc, "ARM_OIDC_REQUEST_TOKEN": "wrong", "ARM_OIDC_AUDIENCE": "aud"}
    with pytest.raises(ClientAuthenticationError, match="GitHub OIDC"):
        creds.oidc_assertion(custom)()

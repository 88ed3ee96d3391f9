"""HTTPS endpoints: certificates are verified with the CA bundle SSL_CERT_FILE names (one TLS context per process),
and a certificate the bundle does not trust is one error saying what to set."""
from __future__ import annotations

import datetime
import ipaddress
import json
import ssl
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from pipeline import envnames
from pipeline.clients import ConnectionSettings, openai_client, tls_context
from tests.pipeline.emulated import run_main


def _name(common_name: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])


def _write_ca_and_server_cert(folder: Path) -> tuple[Path, Path, Path]:
    """A CA (like a company proxy's) and a certificate for 127.0.0.1 it signed: (ca.pem, cert.pem, key.pem)."""
    now = datetime.datetime.now(datetime.timezone.utc)
    ca_key, key = ec.generate_private_key(ec.SECP256R1()), ec.generate_private_key(ec.SECP256R1())
    ca_cert = (
        x509.CertificateBuilder().subject_name(_name("aoai-ft test CA")).issuer_name(_name("aoai-ft test CA"))
        .public_key(ca_key.public_key()).serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5)).not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(x509.KeyUsage(digital_signature=True, content_commitment=False, key_encipherment=False,
                                     data_encipherment=False, key_agreement=False, key_cert_sign=True,
                                     crl_sign=True, encipher_only=False, decipher_only=False), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    cert = (
        x509.CertificateBuilder().subject_name(_name("127.0.0.1")).issuer_name(ca_cert.subject)
        .public_key(key.public_key()).serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5)).not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
                       critical=False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.ExtendedKeyUsage([x509.oid.ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    paths = folder / "ca.pem", folder / "cert.pem", folder / "key.pem"
    paths[0].write_bytes(ca_cert.public_bytes(serialization.Encoding.PEM))
    paths[1].write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    paths[2].write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    return paths


class _Models(BaseHTTPRequestHandler):
    """Answers the model list, as the data plane does, and nothing else."""

    def do_GET(self) -> None:  # noqa: N802 - http.server's name
        body = json.dumps({"object": "list", "data": [{"id": "gpt-4o-mini", "object": "model", "created": 0,
                                                       "owned_by": "system"}]}).encode()
        self.send_response(200 if self.path.startswith("/openai/models") else 404)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture(scope="module")
def https_endpoint(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Path]]:
    """(an https:// endpoint on loopback, the CA bundle that trusts it)."""
    ca, cert, key = _write_ca_and_server_cert(tmp_path_factory.mktemp("tls"))
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Models)
    server.socket = context.wrap_socket(server.socket, server_side=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"https://127.0.0.1:{server.server_address[1]}/", ca
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture
def fresh_tls_context() -> Iterator[None]:
    """The process's TLS context is made once; these tests make it again under their own SSL_CERT_FILE."""
    tls_context.cache_clear()
    yield
    tls_context.cache_clear()


def test_the_ca_bundle_in_ssl_cert_file_is_trusted(https_endpoint, fresh_tls_context, monkeypatch) -> None:
    endpoint, ca = https_endpoint
    monkeypatch.setenv("SSL_CERT_FILE", str(ca))
    monkeypatch.delenv("SSL_CERT_DIR", raising=False)
    for _ in range(2):  # two clients on the one context
        client = openai_client(ConnectionSettings(endpoint=endpoint, api_key="k", max_retries=0))
        assert [m.id for m in client.models.list()] == ["gpt-4o-mini"]


def test_an_untrusted_certificate_is_one_error_that_says_what_to_set(https_endpoint, fresh_tls_context, monkeypatch,
                                                                     capsys) -> None:
    endpoint, _ = https_endpoint
    monkeypatch.delenv("SSL_CERT_FILE", raising=False)  # the system's bundle: it does not hold the test CA
    monkeypatch.delenv("SSL_CERT_DIR", raising=False)
    monkeypatch.setenv(envnames.AZURE_OPENAI_ENDPOINT, endpoint)
    monkeypatch.setenv(envnames.AZURE_OPENAI_API_KEY, "k")
    code, out, err = run_main(["status", "--max-retries", "0"], capsys)
    assert code == 1, err
    assert f"cannot reach {endpoint.rstrip('/')}" in err and "CERTIFICATE_VERIFY_FAILED" in err
    assert "hint: the service's TLS certificate was not trusted" in err and "SSL_CERT_FILE" in err
    assert "Traceback" not in out + err

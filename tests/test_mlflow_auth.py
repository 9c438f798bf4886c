"""Credentials and TLS as the official client does them, against a real basic-auth server and a TLS proxy;
secrets never reach logs, metrics or /health."""

from __future__ import annotations

import datetime
import ipaddress
import logging
import ssl
from collections.abc import Iterator
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from tests.fixtures_mlflow import REGISTRY_ONLY, AuthServer, FaultProxy, MlflowServer, Seeded, mlflow_exporter
from tests.helpers import http_get, scrape, value

pytestmark = pytest.mark.slow


def unauthorized(body: str) -> float | None:
    return value(
        body, "mlflow_request_errors_total", endpoint="registered-models/search", kind="unauthorized"
    )


def test_basic_auth_server_refuses_the_exporter_without_credentials(
    mlflow_auth_server: AuthServer, tmp_path: Path
) -> None:
    with mlflow_exporter(tmp_path, mlflow_auth_server.server.url, REGISTRY_ONLY) as (exporter, _):
        body = scrape(exporter)
    assert value(body, "mlflow_up") == 0
    assert unauthorized(body) == 1


def test_basic_auth_credentials_from_the_environment_are_used_and_never_shown(
    mlflow_auth_server: AuthServer, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    env = {
        "MLFLOW_TRACKING_USERNAME": mlflow_auth_server.username,
        "MLFLOW_TRACKING_PASSWORD": mlflow_auth_server.password,
    }
    with mlflow_exporter(tmp_path, mlflow_auth_server.server.url, REGISTRY_ONLY, env) as (exporter, _):
        body = scrape(exporter)
        health = http_get(f"http://127.0.0.1:{exporter.port}/health")[2]
    assert value(body, "mlflow_up") == 1
    assert value(body, "mlflow_registered_models") == 0
    for text in (body, health, caplog.text):
        assert mlflow_auth_server.password not in text


def test_a_wrong_password_is_counted_as_unauthorized_and_not_logged(
    mlflow_auth_server: AuthServer, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    wrong = "not-the-password-" + mlflow_auth_server.password[:4]
    env = {"MLFLOW_TRACKING_USERNAME": mlflow_auth_server.username, "MLFLOW_TRACKING_PASSWORD": wrong}
    with mlflow_exporter(tmp_path, mlflow_auth_server.server.url, REGISTRY_ONLY, env) as (exporter, _):
        body = scrape(exporter)
    assert value(body, "mlflow_up") == 0 and unauthorized(body) == 1
    assert "unauthorized" in caplog.text and wrong not in caplog.text


@pytest.mark.parametrize(
    ("env", "expected"),
    [
        ({"MLFLOW_TRACKING_TOKEN": "tok-123"}, "Bearer tok-123"),
        # Basic wins over a token, as in mlflow's own client.
        (
            {
                "MLFLOW_TRACKING_TOKEN": "tok-123",
                "MLFLOW_TRACKING_USERNAME": "u",
                "MLFLOW_TRACKING_PASSWORD": "p",
            },
            "Basic dTpw",
        ),
        ({}, ""),
    ],
)
def test_authorization_header_follows_the_official_client(
    fault_proxy: FaultProxy, tmp_path: Path, env: dict[str, str], expected: str
) -> None:
    with mlflow_exporter(tmp_path, fault_proxy.url, REGISTRY_ONLY, env) as (exporter, _):
        scrape(exporter)
    assert fault_proxy.seen_auth and set(fault_proxy.seen_auth) == {expected}


@pytest.fixture(scope="module")
def tls_files(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """A self-signed certificate for 127.0.0.1: (certificate, key)."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "mlflow-test")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), False
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), True)
        .sign(key, hashes.SHA256())
    )
    root = tmp_path_factory.mktemp("tls")
    cert_path, key_path = root / "cert.pem", root / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    return cert_path, key_path


@pytest.fixture(scope="module")
def tls_proxy(
    tls_files: tuple[Path, Path], mlflow_server: MlflowServer, mlflow_seeded: Seeded
) -> Iterator[FaultProxy]:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(*tls_files)
    proxy = FaultProxy(mlflow_server.url, tls=context)
    proxy.start()
    yield proxy
    proxy.stop()


def test_tls_with_the_servers_ca(tls_proxy: FaultProxy, tls_files: tuple[Path, Path], tmp_path: Path) -> None:
    config = {**REGISTRY_ONLY, "tls": {"ca_file": str(tls_files[0])}}
    with mlflow_exporter(tmp_path, tls_proxy.url, config) as (exporter, _):
        body = scrape(exporter)
    assert value(body, "mlflow_up") == 1
    assert value(body, "mlflow_model_alias_version", model="fraud-detector", alias="production") == 2


def test_tls_verification_is_on_by_default(tls_proxy: FaultProxy, tmp_path: Path) -> None:
    with mlflow_exporter(tmp_path, tls_proxy.url, REGISTRY_ONLY) as (exporter, collector):
        body = scrape(exporter)
        detail = collector.health().detail
    assert value(body, "mlflow_up") == 0
    assert value(body, "mlflow_request_errors_total", endpoint="registered-models/search", kind="tls") == 1
    assert "[SSL: CERTIFICATE_VERIFY_FAILED] certificate verify failed" in detail


@pytest.mark.filterwarnings("ignore::urllib3.exceptions.InsecureRequestWarning")  # asked for, as in mlflow
def test_tls_verification_can_be_turned_off_like_the_official_client(
    tls_proxy: FaultProxy, tmp_path: Path
) -> None:
    with mlflow_exporter(
        tmp_path, tls_proxy.url, REGISTRY_ONLY, {"MLFLOW_TRACKING_INSECURE_TLS": "true"}
    ) as (
        exporter,
        _,
    ):
        body = scrape(exporter)
    assert value(body, "mlflow_up") == 1

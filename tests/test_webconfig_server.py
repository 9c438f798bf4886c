"""The web config protecting a loopback server: basic auth, TLS, client certificates, reload on change."""

from __future__ import annotations

import base64
import http.client
import shutil
import socket
import ssl
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import bcrypt
import pytest

from exporter.http_server import HttpServer, listen
from exporter.http_wire import Request, Response
from exporter.webconfig_auth import BasicAuthenticator
from exporter.webconfig_reload import WebConfigFile, protect
from tests.webconfig_certs import Authority, Issued

PASSWORD = "s3cret"
# Cost 4: the minimum, so the suite stays fast; the cache test counts bcrypt calls instead of timing them.
HASH = bcrypt.hashpw(PASSWORD.encode(), bcrypt.gensalt(4)).decode()


def _hello(request: Request) -> Response:
    return Response(200, (("Content-Type", "text/plain"),), b"mlobs_up 1\n")


class Running:
    def __init__(self, config: Path) -> None:
        self.web = WebConfigFile(config)
        self.auth = BasicAuthenticator()
        tls_context = self.web.tls_context if self.web.tls_enabled else None
        app = protect(_hello, self.web, self.auth)
        self.server = HttpServer(listen("127.0.0.1", 0), app, tls_context=tls_context)
        self.port = self.server.port
        self.server.start()

    def stop(self) -> None:
        self.server.stop()


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    folder = tmp_path_factory.mktemp("pki")
    ca, rogue = Authority(folder, "ca"), Authority(folder, "rogue-ca")
    return {
        "ca": ca.files,
        "server": ca.issue("server", "mlobs-exporter", server=True),
        "server2": ca.issue("server2", "mlobs-exporter-renewed", server=True),
        "client": ca.issue("client", "prometheus", server=False),
        "rogue": rogue.issue("rogue", "prometheus", server=False),
    }


def _write_config(folder: Path, pki: dict[str, Any], *, tls: str | None, users: bool = True) -> Path:
    server: Issued = pki["server"]
    shutil.copy(server.cert, folder / "tls.crt")
    shutil.copy(server.key, folder / "tls.key")
    shutil.copy(pki["ca"].cert, folder / "ca.crt")
    lines = []
    if tls is not None:
        lines += ["tls_server_config:", "  cert_file: tls.crt", "  key_file: tls.key"]
        if tls != "NoClientCert":
            lines += [f"  client_auth_type: {tls}", "  client_ca_file: ca.crt"]
    if users:
        lines += ["basic_auth_users:", f"  prometheus: '{HASH}'"]
    lines += ["http_server_config:", "  headers:", "    X-Content-Type-Options: nosniff"]
    path = folder / "web.yaml"
    path.write_text("\n".join(lines) + "\n")
    return path


@pytest.fixture
def serve(tmp_path: Path, pki: dict[str, Any]) -> Iterator[Any]:
    running: list[Running] = []

    def start(tls: str | None, users: bool = True) -> Running:
        running.append(Running(_write_config(tmp_path, pki, tls=tls, users=users)))
        return running[-1]

    yield start
    for r in running:
        r.stop()


def _basic(user: str, password: str) -> dict[str, str]:
    token = base64.b64encode(f"{user}:{password}".encode()).decode()
    return {"Authorization": f"Basic {token}"}


def _client_context(pki: dict[str, Any], client: str | None = None) -> ssl.SSLContext:
    context = ssl.create_default_context(cafile=pki["ca"].cert)
    if client:
        context.load_cert_chain(pki[client].cert, pki[client].key)
    return context


def _get(
    port: int, headers: dict[str, str] | None = None, context: ssl.SSLContext | None = None
) -> http.client.HTTPResponse:
    conn: http.client.HTTPConnection
    if context is None:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    else:
        conn = http.client.HTTPSConnection("127.0.0.1", port, timeout=10, context=context)
    conn.request("GET", "/metrics", headers=headers or {})
    response = conn.getresponse()
    response.read()
    conn.close()
    return response


def test_right_credentials_are_served_with_the_configured_headers(serve: Any) -> None:
    r = serve(tls=None)
    response = _get(r.port, _basic("prometheus", PASSWORD))
    assert response.status == 200
    assert response.getheader("X-Content-Type-Options") == "nosniff"


@pytest.mark.parametrize(
    "headers",
    [None, _basic("prometheus", "wrong"), _basic("nobody", PASSWORD), {"Authorization": "Bearer x"}],
    ids=["missing", "wrong-password", "unknown-user", "not-basic"],
)
def test_missing_or_wrong_credentials_get_401_with_a_basic_challenge(
    serve: Any, headers: dict[str, str] | None
) -> None:
    r = serve(tls=None)
    response = _get(r.port, headers)
    assert response.status == 401
    assert response.getheader("WWW-Authenticate", "").startswith("Basic")


def test_repeated_scrapes_run_bcrypt_once(serve: Any) -> None:
    r = serve(tls=None)
    for _ in range(5):
        assert _get(r.port, _basic("prometheus", PASSWORD)).status == 200
    assert r.auth.bcrypt_calls == 1


def test_tls_with_credentials_is_served(serve: Any, pki: dict[str, Any]) -> None:
    r = serve(tls="NoClientCert")
    assert _get(r.port, _basic("prometheus", PASSWORD), _client_context(pki)).status == 200


def test_plain_http_to_the_tls_port_gets_400(serve: Any) -> None:
    r = serve(tls="NoClientCert")
    response = _get(r.port, _basic("prometheus", PASSWORD))
    assert response.status == 400


def test_required_client_certificate_is_accepted(serve: Any, pki: dict[str, Any]) -> None:
    r = serve(tls="RequireAndVerifyClientCert", users=False)
    assert _get(r.port, context=_client_context(pki, "client")).status == 200


@pytest.mark.parametrize("client", [None, "rogue"], ids=["absent", "untrusted-ca"])
def test_required_client_certificate_absent_or_untrusted_is_refused(
    serve: Any, pki: dict[str, Any], client: str | None
) -> None:
    r = serve(tls="RequireAndVerifyClientCert", users=False)
    with pytest.raises((ssl.SSLError, ConnectionError, http.client.RemoteDisconnected)):
        _get(r.port, context=_client_context(pki, client))


def test_optional_client_certificate_may_be_absent(serve: Any, pki: dict[str, Any]) -> None:
    r = serve(tls="VerifyClientCertIfGiven", users=False)
    assert _get(r.port, context=_client_context(pki)).status == 200


def test_changed_users_apply_to_the_next_request(serve: Any) -> None:
    r = serve(tls=None)
    assert _get(r.port, _basic("prometheus", PASSWORD)).status == 200
    new_hash = bcrypt.hashpw(b"rotated", bcrypt.gensalt(4)).decode()
    r.web.path.write_text(f"basic_auth_users:\n  prometheus: '{new_hash}'\n")
    assert _get(r.port, _basic("prometheus", PASSWORD)).status == 401
    assert _get(r.port, _basic("prometheus", "rotated")).status == 200


def test_renewed_certificate_is_served_without_a_restart(serve: Any, pki: dict[str, Any]) -> None:
    r = serve(tls="NoClientCert", users=False)

    def served_common_name() -> str:
        context = _client_context(pki)
        with (
            socket.create_connection(("127.0.0.1", r.port), timeout=10) as raw,
            context.wrap_socket(raw, server_hostname="127.0.0.1") as tls,
        ):
            subject = dict(pair[0] for pair in tls.getpeercert()["subject"])
        return str(subject["commonName"])

    assert served_common_name() == "mlobs-exporter"
    folder = r.web.path.parent
    shutil.copy(pki["server2"].key, folder / "tls.key")
    shutil.copy(pki["server2"].cert, folder / "tls.crt")
    assert served_common_name() == "mlobs-exporter-renewed"


def test_config_broken_after_start_fails_requests_with_500(serve: Any) -> None:
    r = serve(tls=None)
    r.web.path.write_text("basic_auth_users:\n  prometheus: not-a-hash\n")
    assert _get(r.port, _basic("prometheus", PASSWORD)).status == 500

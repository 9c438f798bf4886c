"""The web config protecting a loopback server: basic auth, TLS, client certificates, reload on change."""

from __future__ import annotations

import http.client
import shutil
import socket
import ssl
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from exporter.http_server import HttpServer, ServerLimits, listen
from exporter.http_wire import Request, Response
from exporter.webconfig_auth import BasicAuthenticator
from exporter.webconfig_reload import WebConfigFile, protect
from tests.webconfig_client import (
    PASSWORD,
    Pki,
    basic,
    client_context,
    get,
    make_pki,
    users_config,
    write_config,
)


def _hello(request: Request) -> Response:
    return Response(200, (("Content-Type", "text/plain"),), b"mlobs_up 1\n")


class Running:
    def __init__(self, config: Path, limits: ServerLimits | None = None) -> None:
        self.web = WebConfigFile(config)
        self.auth = BasicAuthenticator()
        tls_context = self.web.tls_context if self.web.tls_enabled else None
        app = protect(_hello, self.web, self.auth)
        self.server = HttpServer(listen("127.0.0.1", 0), app, limits, tls_context=tls_context)
        self.port = self.server.port
        self.server.start()

    def stop(self) -> None:
        self.server.stop()


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    return make_pki(tmp_path_factory.mktemp("pki"))


@pytest.fixture
def serve(tmp_path: Path, pki: Pki) -> Iterator[Any]:
    running: list[Running] = []

    def start(tls: str | None, users: bool = True, limits: ServerLimits | None = None) -> Running:
        running.append(Running(write_config(tmp_path, pki, tls=tls, users=users), limits))
        return running[-1]

    yield start
    for r in running:
        r.stop()


def _get(
    port: int, headers: dict[str, str] | None = None, context: ssl.SSLContext | None = None
) -> http.client.HTTPResponse:
    return get(port, headers, context)[0]


def test_right_credentials_are_served_with_the_configured_headers(serve: Any) -> None:
    r = serve(tls=None)
    response = _get(r.port, basic("prometheus", PASSWORD))
    assert response.status == 200
    assert response.getheader("X-Content-Type-Options") == "nosniff"


@pytest.mark.parametrize(
    "headers",
    [None, basic("prometheus", "wrong"), basic("nobody", PASSWORD), {"Authorization": "Bearer x"}],
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
        assert _get(r.port, basic("prometheus", PASSWORD)).status == 200
    assert r.auth.bcrypt_calls == 1


def test_tls_with_credentials_is_served(serve: Any, pki: Pki) -> None:
    r = serve(tls="NoClientCert")
    assert _get(r.port, basic("prometheus", PASSWORD), client_context(pki)).status == 200


def test_plain_http_to_the_tls_port_gets_400(serve: Any) -> None:
    r = serve(tls="NoClientCert")
    response = _get(r.port, basic("prometheus", PASSWORD))
    assert response.status == 400


def test_required_client_certificate_is_accepted(serve: Any, pki: Pki) -> None:
    r = serve(tls="RequireAndVerifyClientCert", users=False)
    assert _get(r.port, context=client_context(pki, "client")).status == 200


@pytest.mark.parametrize("client", [None, "rogue"], ids=["absent", "untrusted-ca"])
def test_required_client_certificate_absent_or_untrusted_is_refused(
    serve: Any, pki: Pki, client: str | None
) -> None:
    r = serve(tls="RequireAndVerifyClientCert", users=False)
    with pytest.raises((ssl.SSLError, ConnectionError, http.client.RemoteDisconnected)):
        _get(r.port, context=client_context(pki, client))


def test_optional_client_certificate_may_be_absent(serve: Any, pki: Pki) -> None:
    r = serve(tls="VerifyClientCertIfGiven", users=False)
    assert _get(r.port, context=client_context(pki)).status == 200


def test_changed_users_apply_to_the_next_request(serve: Any) -> None:
    r = serve(tls=None)
    assert _get(r.port, basic("prometheus", PASSWORD)).status == 200
    r.web.path.write_text(users_config("rotated"))
    assert _get(r.port, basic("prometheus", PASSWORD)).status == 401
    assert _get(r.port, basic("prometheus", "rotated")).status == 200


def test_renewed_certificate_is_served_without_a_restart(serve: Any, pki: Pki) -> None:
    r = serve(tls="NoClientCert", users=False)

    def served_common_name() -> str:
        context = client_context(pki)
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
    assert _get(r.port, basic("prometheus", PASSWORD)).status == 500


def test_a_stalled_handshake_blocks_no_one_and_is_dropped_at_the_head_timeout(serve: Any, pki: Pki) -> None:
    r = serve(tls="NoClientCert", users=False, limits=ServerLimits(max_requests=1, header_timeout=1.0))
    with socket.create_connection(("127.0.0.1", r.port), timeout=10) as stalled:
        stalled.sendall(b"\x16\x03\x01\x00")  # the start of a ClientHello record, never finished
        assert _get(r.port, context=client_context(pki)).status == 200  # one worker, still free
        try:
            closed = stalled.recv(1) == b""
        except ConnectionResetError:
            closed = True
    assert closed
    assert r.server.stats["timed_out"] == 1

"""`--web.config.file` on the exporter process: TLS, client certificates and basic auth on every path."""

from __future__ import annotations

import contextlib
import socket
import ssl
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.helpers import free_port
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

FAKE = ["--gpu.backend=fake", "--gpu.fake-scenario=h100-8x", "--gpu.call-timeout=5"]
PATHS = ["/metrics", "/", "/health"]


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    return make_pki(tmp_path_factory.mktemp("pki"))


def _command(port: int, config: Path) -> list[str]:
    listen = f"--web.listen-address=127.0.0.1:{port}"
    return [sys.executable, "-m", "exporter", listen, f"--web.config.file={config}", *FAKE]


def _answers_tls(port: int, context: ssl.SSLContext) -> bool:
    try:
        with (
            socket.create_connection(("127.0.0.1", port), timeout=2) as raw,
            context.wrap_socket(raw, server_hostname="127.0.0.1"),
        ):
            return True
    except OSError:
        return False


@contextlib.contextmanager
def exporter(config: Path, ready: ssl.SSLContext | None) -> Iterator[int]:
    """The exporter process serving with `config`; yields its port once a handshake with `ready` works."""
    port = free_port()
    proc = subprocess.Popen(
        _command(port, config),
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 30
        while proc.poll() is None and time.monotonic() < deadline:
            if ready is None:
                with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=2):
                    break
            elif _answers_tls(port, ready):
                break
            time.sleep(0.1)
        assert proc.poll() is None, "the exporter exited"
        yield port
    finally:
        proc.terminate()
        proc.wait(timeout=15)


@pytest.fixture(scope="module")
def tls_with_users(tmp_path_factory: pytest.TempPathFactory, pki: Pki) -> Iterator[int]:
    config = write_config(tmp_path_factory.mktemp("tls-users"), pki, tls="NoClientCert")
    with exporter(config, client_context(pki)) as port:
        yield port


@pytest.mark.parametrize("path", PATHS)
def test_right_credentials_over_tls_are_served_with_the_configured_headers(
    tls_with_users: int, pki: Pki, path: str
) -> None:
    response, body = get(tls_with_users, basic("prometheus", PASSWORD), client_context(pki), path)
    assert response.status == 200
    assert response.getheader("X-Content-Type-Options") == "nosniff"
    if path == "/metrics":
        assert b"mlobs_build_info" in body


@pytest.mark.parametrize("path", PATHS)
@pytest.mark.parametrize(
    "headers",
    [None, basic("prometheus", "wrong"), basic("nobody", PASSWORD)],
    ids=["missing", "wrong", "unknown"],
)
def test_missing_or_wrong_credentials_get_401_with_a_basic_challenge(
    tls_with_users: int, pki: Pki, path: str, headers: dict[str, str] | None
) -> None:
    response, body = get(tls_with_users, headers, client_context(pki), path)
    assert response.status == 401
    assert (response.getheader("WWW-Authenticate") or "").startswith("Basic")
    assert response.getheader("X-Content-Type-Options") == "nosniff"
    assert b"mlobs_" not in body


def test_plain_http_to_the_tls_port_gets_400_in_plain_text(tls_with_users: int) -> None:
    response, body = get(tls_with_users, basic("prometheus", PASSWORD))
    assert response.status == 400
    assert body == b"Client sent an HTTP request to an HTTPS server.\n"


def test_a_required_client_certificate_is_checked(tmp_path: Path, pki: Pki) -> None:
    config = write_config(tmp_path, pki, tls="RequireAndVerifyClientCert", users=False)
    with exporter(config, client_context(pki, "client")) as port:
        assert get(port, context=client_context(pki, "client"))[0].status == 200
        for refused in (None, "rogue"):  # absent, then issued by a CA the exporter does not trust
            with pytest.raises((ssl.SSLError, ConnectionError)):
                get(port, context=client_context(pki, refused))


def test_an_optional_client_certificate_may_be_absent_but_not_untrusted(tmp_path: Path, pki: Pki) -> None:
    config = write_config(tmp_path, pki, tls="VerifyClientCertIfGiven", users=False)
    with exporter(config, client_context(pki)) as port:
        assert get(port, context=client_context(pki))[0].status == 200
        assert get(port, context=client_context(pki, "client"))[0].status == 200
        with pytest.raises((ssl.SSLError, ConnectionError)):
            get(port, context=client_context(pki, "rogue"))


def test_a_changed_users_list_applies_without_a_restart(tmp_path: Path, pki: Pki) -> None:
    config = write_config(tmp_path, pki, tls=None)
    with exporter(config, None) as port:
        assert get(port, basic("prometheus", PASSWORD))[0].status == 200
        config.write_text(users_config("rotated"))
        assert get(port, basic("prometheus", PASSWORD))[0].status == 401
        assert get(port, basic("prometheus", "rotated"))[0].status == 200


def test_a_bad_web_config_is_exit_2_in_one_line_and_nothing_started(tmp_path: Path) -> None:
    config = tmp_path / "web.yaml"
    config.write_text("tls_server_config: {cert_file: missing.crt, key_file: missing.key}\n")
    port = free_port()
    result = subprocess.run(
        _command(port, config),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert "--web.config.file:" in lines[0] and "cert_file: no such file" in lines[0]
    assert "SIMULATED" not in result.stderr
    with socket.socket() as probe:  # nothing was started: the port is still free
        probe.bind(("127.0.0.1", port))

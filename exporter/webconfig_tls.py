"""TLS for the exporter's HTTP server: an `ssl.SSLContext` from a web config, and a server mixin using it.

The mixin wraps each accepted connection with the context current at that moment (the listening socket stays
plain), so a renewed certificate or a changed web config takes effect on the next connection without a
restart, as in exporter-toolkit. The handshake runs on the connection's own thread: a slow or broken client
never blocks `accept`.
"""

from __future__ import annotations

import logging
import socket
import ssl
from collections.abc import Callable
from typing import Any

from exporter.webconfig import CIPHER_SUITES, TlsServerConfig

log = logging.getLogger("exporter.webconfig")

_VERSIONS = {
    "TLS10": ssl.TLSVersion.TLSv1,
    "TLS11": ssl.TLSVersion.TLSv1_1,
    "TLS12": ssl.TLSVersion.TLSv1_2,
    "TLS13": ssl.TLSVersion.TLSv1_3,
}
_VERIFY = {
    "NoClientCert": ssl.CERT_NONE,
    "VerifyClientCertIfGiven": ssl.CERT_OPTIONAL,
    "RequireAndVerifyClientCert": ssl.CERT_REQUIRED,
}
# What Go's server answers a plain HTTP request on a TLS port.
PLAIN_HTTP_ANSWER = (
    b"HTTP/1.0 400 Bad Request\r\nContent-Type: text/plain\r\nConnection: close\r\n\r\n"
    b"Client sent an HTTP request to an HTTPS server.\n"
)
_TLS_HANDSHAKE_RECORD = 0x16


def ssl_context(tls: TlsServerConfig) -> ssl.SSLContext:
    """A server context for `tls`; ssl.SSLError or OSError when a file is unusable (e.g. key not matching)."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.minimum_version = _VERSIONS[tls.min_version]
    context.maximum_version = _VERSIONS[tls.max_version]
    context.load_cert_chain(tls.cert_file, tls.key_file)
    context.verify_mode = _VERIFY[tls.client_auth_type]
    if tls.client_ca_file:
        context.load_verify_locations(cafile=tls.client_ca_file)
    if tls.cipher_suites:
        context.set_ciphers(":".join(CIPHER_SUITES[s] for s in tls.cipher_suites))
    context.options |= ssl.OP_CIPHER_SERVER_PREFERENCE
    return context


class TLSConnectionsMixin:
    """Mix into a socketserver (before ThreadingMixIn) to serve TLS with the context `tls_context()` returns.

    `tls_context` returns None to serve plain HTTP (no tls_server_config). Set it before serving.
    """

    tls_context: Callable[[], ssl.SSLContext | None]

    def finish_request(self, request: Any, client_address: Any) -> None:
        try:
            context = self.tls_context()
        except ValueError as exc:  # WebConfigError: the config turned unusable after start-up
            log.error("web config unusable, refusing the TLS connection: %s", exc)
            return
        if context is None:
            super().finish_request(request, client_address)  # type: ignore[misc]
            return
        try:
            request.settimeout(10)
            first = request.recv(1, socket.MSG_PEEK)
            if first and first[0] != _TLS_HANDSHAKE_RECORD:
                request.sendall(PLAIN_HTTP_ANSWER)
                return
            conn = context.wrap_socket(request, server_side=True)
        except (ssl.SSLError, OSError) as exc:
            # A client without the required certificate, an untrusted one, a port scanner: not our error.
            log.debug("TLS handshake with %s failed: %s", client_address, exc)
            return
        try:
            conn.settimeout(None)
            super().finish_request(conn, client_address)  # type: ignore[misc]
        finally:
            conn.close()

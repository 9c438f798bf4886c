"""TLS for the exporter's HTTP server: an `ssl.SSLContext` from a web config, and non-blocking handshakes.

The server wraps each accepted connection with the context current at that moment (the listening socket stays
plain), so a renewed certificate or a changed web config takes effect on the next connection without a
restart, as in exporter-toolkit. Handshakes are driven step by step by the server's reader thread: a slow or
silent client costs a socket until the head timeout, never a thread.

`ssl` (about 5 MiB of OpenSSL) is imported only when a web config turns TLS on: an SSL socket cannot exist
before, which is what `is_tls` and `would_block` rely on.
"""

from __future__ import annotations

import selectors
import socket
import sys
from typing import TYPE_CHECKING, TypeGuard

from exporter.webconfig import CIPHER_SUITES, TlsServerConfig

if TYPE_CHECKING:
    import ssl

# Web config names -> the names of ssl.TLSVersion and ssl.VerifyMode members.
_VERSIONS = {"TLS10": "TLSv1", "TLS11": "TLSv1_1", "TLS12": "TLSv1_2", "TLS13": "TLSv1_3"}
_VERIFY = {
    "NoClientCert": "CERT_NONE",
    "VerifyClientCertIfGiven": "CERT_OPTIONAL",
    "RequireAndVerifyClientCert": "CERT_REQUIRED",
}
# What Go's server answers a plain HTTP request on a TLS port.
PLAIN_HTTP_ANSWER = (
    b"HTTP/1.0 400 Bad Request\r\nContent-Type: text/plain\r\nConnection: close\r\n\r\n"
    b"Client sent an HTTP request to an HTTPS server.\n"
)
_TLS_HANDSHAKE_RECORD = 0x16


def ssl_context(tls: TlsServerConfig) -> ssl.SSLContext:
    """A server context for `tls`; ssl.SSLError or OSError when a file is unusable (e.g. key not matching)."""
    import ssl

    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.minimum_version = ssl.TLSVersion[_VERSIONS[tls.min_version]]
    context.maximum_version = ssl.TLSVersion[_VERSIONS[tls.max_version]]
    context.load_cert_chain(tls.cert_file, tls.key_file)
    context.verify_mode = ssl.VerifyMode[_VERIFY[tls.client_auth_type]]
    if tls.client_ca_file:
        context.load_verify_locations(cafile=tls.client_ca_file)
    if tls.cipher_suites:
        context.set_ciphers(":".join(CIPHER_SUITES[s] for s in tls.cipher_suites))
    # No renegotiation: the server's reader thread must never have to write in the middle of reading a head.
    context.options |= ssl.OP_CIPHER_SERVER_PREFERENCE | ssl.OP_NO_RENEGOTIATION
    return context


def is_tls(sock: socket.socket) -> TypeGuard[ssl.SSLSocket]:
    """Whether `sock` is wrapped for TLS."""
    ssl = sys.modules.get("ssl")  # not loaded: no socket can be wrapped
    return ssl is not None and isinstance(sock, ssl.SSLSocket)


def would_block(exc: OSError) -> bool:
    """Whether a non-blocking read or write must wait for the socket (plain, or a TLS record half there)."""
    if isinstance(exc, BlockingIOError):
        return True
    ssl = sys.modules.get("ssl")
    return ssl is not None and isinstance(exc, ssl.SSLWantReadError | ssl.SSLWantWriteError)


def looks_like_tls(sock: socket.socket) -> bool | None:
    """Whether the client's first byte opens a TLS handshake; None while nothing has arrived (or EOF)."""
    first = sock.recv(1, socket.MSG_PEEK)
    return first[0] == _TLS_HANDSHAKE_RECORD if first else None


def start_handshake(sock: socket.socket, context: ssl.SSLContext) -> ssl.SSLSocket:
    """`sock` (non-blocking, plain) wrapped for a server-side handshake that `advance_handshake` drives."""
    return context.wrap_socket(sock, server_side=True, do_handshake_on_connect=False)


def advance_handshake(sock: ssl.SSLSocket) -> int:
    """One non-blocking handshake step: 0 when done, else the selector event to wait for.

    ssl.SSLError or OSError when the handshake failed (a missing or untrusted client certificate, a scanner).
    """
    import ssl

    try:
        sock.do_handshake()
    except ssl.SSLWantReadError:
        return selectors.EVENT_READ
    except ssl.SSLWantWriteError:
        return selectors.EVENT_WRITE
    return 0

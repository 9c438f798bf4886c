"""A web config with test certificates, and the client side: credentials, TLS contexts, one GET."""

from __future__ import annotations

import base64
import http.client
import shutil
import ssl
from pathlib import Path

import bcrypt

from tests.webconfig_certs import Authority, Issued

PASSWORD = "s3cret"
# Cost 4: the minimum, so the suite stays fast; the cache test counts bcrypt calls instead of timing them.
HASH = bcrypt.hashpw(PASSWORD.encode(), bcrypt.gensalt(4)).decode()

Pki = dict[str, Issued]


def make_pki(folder: Path) -> Pki:
    """A CA with server and client certificates, a renewed server certificate and a rogue CA's client."""
    ca, rogue = Authority(folder, "ca"), Authority(folder, "rogue-ca")
    return {
        "ca": ca.files,
        "server": ca.issue("server", "mlobs-exporter", server=True),
        "server2": ca.issue("server2", "mlobs-exporter-renewed", server=True),
        "client": ca.issue("client", "prometheus", server=False),
        "rogue": rogue.issue("rogue", "prometheus", server=False),
    }


def write_config(folder: Path, pki: Pki, *, tls: str | None, users: bool = True) -> Path:
    """web.yaml in `folder` (with copies of the server's files): TLS with `tls` client auth, one user."""
    server = pki["server"]
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


def users_config(password: str) -> str:
    """A web config whose only user `prometheus` has `password`."""
    hashed = bcrypt.hashpw(password.encode(), bcrypt.gensalt(4)).decode()
    return f"basic_auth_users:\n  prometheus: '{hashed}'\n"


def basic(user: str, password: str) -> dict[str, str]:
    token = base64.b64encode(f"{user}:{password}".encode()).decode()
    return {"Authorization": f"Basic {token}"}


def client_context(pki: Pki, client: str | None = None) -> ssl.SSLContext:
    """A client trusting the test CA, presenting `client`'s certificate if named."""
    context = ssl.create_default_context(cafile=pki["ca"].cert)
    if client:
        context.load_cert_chain(pki[client].cert, pki[client].key)
    return context


def get(
    port: int,
    headers: dict[str, str] | None = None,
    context: ssl.SSLContext | None = None,
    path: str = "/metrics",
) -> tuple[http.client.HTTPResponse, bytes]:
    """GET `path` over HTTPS with `context`, else plain HTTP; the response and its body."""
    conn: http.client.HTTPConnection
    if context is None:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    else:
        conn = http.client.HTTPSConnection("127.0.0.1", port, timeout=10, context=context)
    try:
        conn.request("GET", path, headers=headers or {})
        response = conn.getresponse()
        return response, response.read()
    finally:
        conn.close()

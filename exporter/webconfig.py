"""`--web.config.file`: TLS, basic auth and response headers in the Prometheus exporter-toolkit's format.

    tls_server_config:
      cert_file: server.crt            # relative paths are relative to the web config file
      key_file: server.key
      client_auth_type: RequireAndVerifyClientCert
      client_ca_file: ca.crt
      min_version: TLS12
    basic_auth_users:
      prometheus: $2b$12$...           # bcrypt hash (htpasswd -nBC 12 "" | tr -d ':')
    http_server_config:
      headers:
        Strict-Transport-Security: max-age=31536000

This module parses and checks the file (every problem on one line, each naming its key); the siblings build
the TLS context (`webconfig_tls`), check credentials (`webconfig_auth`) and follow changes of the file
(`webconfig_reload`, which also holds `protect`, the app wrapper for auth and headers).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

CLIENT_AUTH_TYPES = (
    "NoClientCert",
    "RequestClientCert",
    "RequireAnyClientCert",
    "VerifyClientCertIfGiven",
    "RequireAndVerifyClientCert",
)
# Python's ssl module verifies every client certificate it asks for: it cannot accept one unverified, as
# these two Go policies do. Rejected with a pointer to the verifying equivalents instead of weakened silently.
UNSUPPORTED_CLIENT_AUTH = ("RequestClientCert", "RequireAnyClientCert")
VERIFYING_CLIENT_AUTH = ("VerifyClientCertIfGiven", "RequireAndVerifyClientCert")
TLS_VERSIONS = ("TLS10", "TLS11", "TLS12", "TLS13")
# Go's names of the TLS 1.2 suites (crypto/tls) -> OpenSSL's; TLS 1.3 suites are not configurable (as in Go).
CIPHER_SUITES = {
    "TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256": "ECDHE-ECDSA-AES128-GCM-SHA256",
    "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256": "ECDHE-RSA-AES128-GCM-SHA256",
    "TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384": "ECDHE-ECDSA-AES256-GCM-SHA384",
    "TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384": "ECDHE-RSA-AES256-GCM-SHA384",
    "TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256": "ECDHE-ECDSA-CHACHA20-POLY1305",
    "TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256": "ECDHE-RSA-CHACHA20-POLY1305",
    "TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA": "ECDHE-ECDSA-AES128-SHA",
    "TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA": "ECDHE-RSA-AES128-SHA",
    "TLS_ECDHE_ECDSA_WITH_AES_256_CBC_SHA": "ECDHE-ECDSA-AES256-SHA",
    "TLS_ECDHE_RSA_WITH_AES_256_CBC_SHA": "ECDHE-RSA-AES256-SHA",
    "TLS_RSA_WITH_AES_128_GCM_SHA256": "AES128-GCM-SHA256",
    "TLS_RSA_WITH_AES_256_GCM_SHA384": "AES256-GCM-SHA384",
}
# The headers exporter-toolkit lets a web config set (anything else is an error there too).
ALLOWED_HEADERS = (
    "Strict-Transport-Security",
    "X-Content-Type-Options",
    "X-Frame-Options",
    "X-XSS-Protection",
    "Content-Security-Policy",
)
_BCRYPT = re.compile(r"^\$2[aby]\$\d\d\$[./A-Za-z0-9]{53}$")
# prefer_server_cipher_suites and curve_preferences are accepted so toolkit files load unchanged, and not
# applied: Go ignores the first since 1.17 (the server's order wins, as here); OpenSSL picks the curves.
_TLS_KEYS = frozenset(
    {
        "cert_file",
        "key_file",
        "client_auth_type",
        "client_ca_file",
        "min_version",
        "max_version",
        "cipher_suites",
        "prefer_server_cipher_suites",
        "curve_preferences",
    }
)
_TOP_KEYS = frozenset({"tls_server_config", "basic_auth_users", "http_server_config"})
_HTTP_KEYS = frozenset({"headers", "http2"})


class WebConfigError(ValueError):
    """A web config file that cannot be used; the message is one line naming every bad key."""


@dataclass(frozen=True)
class TlsServerConfig:
    cert_file: Path
    key_file: Path
    client_auth_type: str = "NoClientCert"
    client_ca_file: Path | None = None
    min_version: str = "TLS12"
    max_version: str = "TLS13"
    cipher_suites: tuple[str, ...] = ()

    def files(self) -> tuple[Path, ...]:
        """Files the TLS context is built from: a change to any of them rebuilds it."""
        ca = (self.client_ca_file,) if self.client_ca_file else ()
        return (self.cert_file, self.key_file, *ca)


@dataclass(frozen=True)
class WebConfig:
    tls: TlsServerConfig | None = None
    # user -> bcrypt hash; empty: no authentication.
    users: Mapping[str, str] = field(default_factory=dict)
    headers: Mapping[str, str] = field(default_factory=dict)


def _mapping(value: Any, key: str, problems: list[str]) -> dict[str, Any]:
    if value is None:
        return {}
    if not isinstance(value, dict):
        problems.append(f"{key}: must be a mapping")
        return {}
    return value


def _unknown(section: Mapping[str, Any], allowed: frozenset[str], prefix: str, problems: list[str]) -> None:
    problems.extend(f"{prefix}{key}: unknown key" for key in section if key not in allowed)


def _path(value: Any, key: str, base: Path, problems: list[str]) -> Path | None:
    if not value:
        return None
    if not isinstance(value, str):
        problems.append(f"{key}: must be a file path")
        return None
    path = base / value
    if not path.is_file():
        problems.append(f"{key}: no such file: {path}")
    return path


def _tls(section: dict[str, Any], base: Path, problems: list[str]) -> TlsServerConfig | None:
    p = "tls_server_config."
    _unknown(section, _TLS_KEYS, p, problems)
    cert = _path(section.get("cert_file"), p + "cert_file", base, problems)
    key = _path(section.get("key_file"), p + "key_file", base, problems)
    if not section.get("cert_file"):
        problems.append(f"{p}cert_file: required when tls_server_config is set")
    if not section.get("key_file"):
        problems.append(f"{p}key_file: required when tls_server_config is set")
    auth = section.get("client_auth_type") or "NoClientCert"
    ca = _path(section.get("client_ca_file"), p + "client_ca_file", base, problems)
    if auth not in CLIENT_AUTH_TYPES:
        problems.append(f"{p}client_auth_type: must be one of {', '.join(CLIENT_AUTH_TYPES)}, got {auth!r}")
    elif auth in UNSUPPORTED_CLIENT_AUTH:
        problems.append(
            f"{p}client_auth_type: {auth} (a certificate accepted unverified) is not supported; "
            "use VerifyClientCertIfGiven or RequireAndVerifyClientCert with client_ca_file"
        )
    elif auth in VERIFYING_CLIENT_AUTH and not section.get("client_ca_file"):
        problems.append(f"{p}client_ca_file: required with client_auth_type {auth}")
    elif auth == "NoClientCert" and section.get("client_ca_file"):
        problems.append(
            f"{p}client_ca_file: set without a client_auth_type that verifies client certificates"
        )
    versions = {}
    for name, default in (("min_version", "TLS12"), ("max_version", "TLS13")):
        versions[name] = section.get(name) or default
        if versions[name] not in TLS_VERSIONS:
            problems.append(f"{p}{name}: must be one of {', '.join(TLS_VERSIONS)}, got {versions[name]!r}")
            versions[name] = default
    if TLS_VERSIONS.index(versions["min_version"]) > TLS_VERSIONS.index(versions["max_version"]):
        problems.append(f"{p}min_version: must not be above max_version")
    suites = section.get("cipher_suites") or []
    if not isinstance(suites, list) or any(s not in CIPHER_SUITES for s in suites):
        problems.append(f"{p}cipher_suites: must be a list of {', '.join(CIPHER_SUITES)}")
        suites = []
    if cert is None or key is None:
        return None
    return TlsServerConfig(
        cert, key, auth, ca, versions["min_version"], versions["max_version"], tuple(suites)
    )


def _users(section: dict[str, Any], problems: list[str]) -> dict[str, str]:
    users = {}
    for user, hashed in section.items():
        if not isinstance(user, str) or not user or ":" in user:
            problems.append(f"basic_auth_users: {user!r} is not a user name (non-empty, no colon)")
        elif not isinstance(hashed, str) or not _BCRYPT.match(hashed):
            problems.append(f"basic_auth_users.{user}: must be a bcrypt hash ($2y$..., $2b$...)")
        else:
            users[user] = hashed
    return users


def _headers(section: dict[str, Any], problems: list[str]) -> dict[str, str]:
    p = "http_server_config."
    _unknown(section, _HTTP_KEYS, p, problems)
    if not isinstance(section.get("http2", True), bool):
        problems.append(f"{p}http2: must be true or false")
    headers = _mapping(section.get("headers"), p + "headers", problems)
    out = {}
    for name, value in headers.items():
        canonical = next((h for h in ALLOWED_HEADERS if h.lower() == str(name).lower()), None)
        if canonical is None:
            problems.append(f"{p}headers.{name}: not settable; allowed: {', '.join(ALLOWED_HEADERS)}")
        elif not isinstance(value, str) or "\n" in value or "\r" in value:
            problems.append(f"{p}headers.{name}: must be a one-line string")
        else:
            out[canonical] = value
    return out


def parse(text: str, base: Path) -> WebConfig:
    """The config in `text`; relative file paths resolve against `base` (the config file's folder)."""
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError:
        raise WebConfigError("not valid YAML") from None
    problems: list[str] = []
    top = _mapping(data, "web config", problems)
    _unknown(top, _TOP_KEYS, "", problems)
    tls_section = _mapping(top.get("tls_server_config"), "tls_server_config", problems)
    tls = _tls(tls_section, base, problems) if tls_section else None
    users = _users(_mapping(top.get("basic_auth_users"), "basic_auth_users", problems), problems)
    headers = _headers(_mapping(top.get("http_server_config"), "http_server_config", problems), problems)
    if problems:
        raise WebConfigError("; ".join(problems))
    return WebConfig(tls, users, headers)


def load(path: Path) -> WebConfig:
    """The web config at `path`; WebConfigError (prefixed with the path) when it cannot be used."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise WebConfigError(f"{path}: cannot read: {exc.strerror}") from None
    try:
        return parse(text, path.parent)
    except WebConfigError as exc:
        raise WebConfigError(f"{path}: {exc}") from None

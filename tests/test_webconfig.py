"""Parsing and checking a web config file (exporter-toolkit's format): one line naming every bad key."""

from __future__ import annotations

import argparse
from pathlib import Path

import pytest

from exporter.webconfig import WebConfigError, load, parse
from exporter.webconfig_auth import credentials
from exporter.webconfig_reload import add_flag, open_web_config

HASH = "$2b$04$" + "a" * 53
TLS = "tls_server_config: {cert_file: tls.crt, key_file: tls.key, "


@pytest.fixture
def files(tmp_path: Path) -> Path:
    for name in ("tls.crt", "tls.key", "ca.crt"):
        (tmp_path / name).write_text("pem")
    return tmp_path


def test_full_config_is_read_with_paths_relative_to_its_folder(files: Path) -> None:
    text = f"""
tls_server_config:
  cert_file: tls.crt
  key_file: tls.key
  client_auth_type: RequireAndVerifyClientCert
  client_ca_file: ca.crt
  min_version: TLS13
  cipher_suites: [TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256]
basic_auth_users:
  prometheus: '{HASH}'
http_server_config:
  headers:
    strict-transport-security: max-age=31536000
"""
    cfg = parse(text, files)
    assert cfg.tls is not None
    assert cfg.tls.cert_file == files / "tls.crt"
    assert cfg.tls.files() == (files / "tls.crt", files / "tls.key", files / "ca.crt")
    assert cfg.tls.min_version == "TLS13"
    assert cfg.users == {"prometheus": HASH}
    assert cfg.headers == {"Strict-Transport-Security": "max-age=31536000"}


def test_empty_file_means_no_protection(files: Path) -> None:
    cfg = parse("", files)
    assert (cfg.tls, dict(cfg.users), dict(cfg.headers)) == (None, {}, {})


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("tls_config: {}", "tls_config: unknown key"),
        ("tls_server_config: {key_file: tls.key}", "tls_server_config.cert_file: required"),
        (
            "tls_server_config: {cert_file: nope.crt, key_file: tls.key}",
            "tls_server_config.cert_file: no such file",
        ),
        (
            TLS + "client_auth_type: Maybe}",
            "tls_server_config.client_auth_type: must be one of",
        ),
        (
            TLS + "client_auth_type: RequireAnyClientCert}",
            "tls_server_config.client_auth_type: RequireAnyClientCert (a certificate accepted unverified)",
        ),
        (
            TLS + "client_auth_type: VerifyClientCertIfGiven}",
            "tls_server_config.client_ca_file: required",
        ),
        (
            TLS + "client_ca_file: ca.crt}",
            "tls_server_config.client_ca_file: set without a client_auth_type",
        ),
        (
            TLS + "min_version: TLS13, max_version: TLS12}",
            "tls_server_config.min_version: must not be above max_version",
        ),
        (
            TLS + "min_version: SSL3}",
            "tls_server_config.min_version: must be one of",
        ),
        (
            TLS + "cipher_suites: [RC4]}",
            "tls_server_config.cipher_suites: must be a list of",
        ),
        ("basic_auth_users: {prometheus: plaintext}", "basic_auth_users.prometheus: must be a bcrypt hash"),
        ("http_server_config: {headers: {Server: x}}", "http_server_config.headers.Server: not settable"),
        ("http_server_config: {http2: maybe}", "http_server_config.http2: must be true or false"),
        ("basic_auth_users: [a, b]", "basic_auth_users: must be a mapping"),
        ("a: [", "not valid YAML"),
    ],
)
def test_bad_config_names_the_key(files: Path, text: str, message: str) -> None:
    with pytest.raises(WebConfigError, match=r"^[^\n]*$") as caught:
        parse(text, files)
    assert message in str(caught.value)


def test_every_problem_is_reported_at_once(files: Path) -> None:
    with pytest.raises(WebConfigError) as caught:
        parse("basic_auth_users: {a: x}\nhttp_server_config: {headers: {Server: y}}", files)
    assert "basic_auth_users.a" in str(caught.value)
    assert "http_server_config.headers.Server" in str(caught.value)


def test_load_prefixes_the_path(tmp_path: Path) -> None:
    with pytest.raises(WebConfigError, match=f"^{tmp_path}/missing.yml: cannot read"):
        load(tmp_path / "missing.yml")


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        ("Basic cHJvbWV0aGV1czpzM2M6cmV0", ("prometheus", "s3c:ret")),
        ("basic cHJvbWV0aGV1czo=", ("prometheus", "")),
        (None, None),
        ("Basic !!!", None),
        ("Basic bm9jb2xvbg==", None),
        ("Bearer abc", None),
    ],
)
def test_credentials_of_an_authorization_header(header: str | None, expected: tuple[str, str] | None) -> None:
    assert credentials(header) == expected


def test_flag_opens_the_file_and_is_optional(tmp_path: Path) -> None:
    parser = argparse.ArgumentParser()
    add_flag(parser)
    assert open_web_config(parser.parse_args([]).web_config_file) is None
    config = tmp_path / "web.yml"
    config.write_text("http_server_config: {headers: {X-Frame-Options: deny}}\n")
    web = open_web_config(parser.parse_args([f"--web.config.file={config}"]).web_config_file)
    assert web is not None and dict(web.current().headers) == {"X-Frame-Options": "deny"}
    config.write_text("basic_auth_users: {a: b}\n")
    with pytest.raises(WebConfigError, match=r"basic_auth_users\.a: must be a bcrypt hash"):
        open_web_config(str(config))


def test_every_tls_version_and_verifying_mode_names_an_ssl_member() -> None:
    import ssl

    from exporter.webconfig import CLIENT_AUTH_TYPES, TLS_VERSIONS, UNSUPPORTED_CLIENT_AUTH
    from exporter.webconfig_tls import _VERIFY, _VERSIONS

    assert [ssl.TLSVersion[_VERSIONS[name]] for name in TLS_VERSIONS] == [
        ssl.TLSVersion.TLSv1, ssl.TLSVersion.TLSv1_1, ssl.TLSVersion.TLSv1_2, ssl.TLSVersion.TLSv1_3,
    ]  # fmt: skip
    supported = [name for name in CLIENT_AUTH_TYPES if name not in UNSUPPORTED_CLIENT_AUTH]
    assert [ssl.VerifyMode[_VERIFY[name]] for name in supported] == [
        ssl.CERT_NONE, ssl.CERT_OPTIONAL, ssl.CERT_REQUIRED,
    ]  # fmt: skip

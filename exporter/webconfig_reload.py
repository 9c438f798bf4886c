"""Follow `--web.config.file` as exporter-toolkit does: re-read per request, cheaply, and protect the app.

Per request only a stat() runs: the file is re-read when its (mtime, size, inode) changes, and re-parsed only
when its content hash changes. The TLS context is rebuilt when the config or any of its certificate, key or CA
files change (a cert-manager renewal rewrites them in place), so renewals need no restart.

A file that turns invalid after start-up fails requests with 500 and an error log, as in exporter-toolkit:
serving on with stale credentials would hide the mistake, serving without them would open the endpoint.

Wiring: `settings` adds the flag and opens the file (a bad one is a start problem), `app` wraps the routes
with `protect` and gives the server `tls_context`, which `http_reader` calls per connection.
"""

from __future__ import annotations

import argparse
import logging
import os
import threading
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING

from exporter.http_server import App
from exporter.http_wire import HttpError, Request, Response, error_response
from exporter.webconfig import WebConfig, WebConfigError, parse
from exporter.webconfig_auth import CHALLENGE, BasicAuthenticator
from exporter.webconfig_tls import ssl_context

if TYPE_CHECKING:  # ssl itself loads only with TLS on (webconfig_tls)
    import ssl

log = logging.getLogger("exporter.webconfig")

_Stamp = tuple[int, int, int] | None


def _stamp(path: Path) -> _Stamp:
    try:
        st = os.stat(path)
    except OSError:
        return None
    return (st.st_mtime_ns, st.st_size, st.st_ino)


@dataclass(frozen=True)
class _Loaded:
    stamp: _Stamp
    digest: bytes
    config: WebConfig


class WebConfigFile:
    """The web config at `path`, current as of the last call; the first load raises WebConfigError."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._lock = threading.Lock()
        self._loaded = self._read(None)
        self._tls: tuple[tuple[bytes, tuple[_Stamp, ...]], ssl.SSLContext] | None = None
        # TLS or plain is decided at start-up, as the listener's scheme cannot change under its clients.
        self.tls_enabled = self._loaded.config.tls is not None
        if self.tls_enabled:
            self.tls_context()  # a certificate that does not load fails start-up, not the first scrape

    def _read(self, previous: _Loaded | None) -> _Loaded:
        stamp = _stamp(self.path)
        try:
            data = self.path.read_bytes()
        except OSError as exc:
            raise WebConfigError(f"{self.path}: cannot read: {exc.strerror}") from None
        import hashlib  # with a web config only: it loads OpenSSL's libcrypto (3.5 MiB)

        digest = hashlib.sha256(data).digest()
        if previous is not None and previous.digest == digest:
            return _Loaded(stamp, digest, previous.config)
        try:
            config = parse(data.decode("utf-8", errors="replace"), self.path.parent)
        except WebConfigError as exc:
            raise WebConfigError(f"{self.path}: {exc}") from None
        if previous is not None:
            log.info("web config reloaded from %s", self.path)
        return _Loaded(stamp, digest, config)

    def current(self) -> WebConfig:
        """The config as the file says now; WebConfigError when it no longer parses."""
        with self._lock:
            if _stamp(self.path) != self._loaded.stamp:
                self._loaded = self._read(self._loaded)
            return self._loaded.config

    def tls_context(self) -> ssl.SSLContext | None:
        """The TLS context of the current config (None: plain HTTP), rebuilt when it or its files change.

        WebConfigError when TLS was on at start-up and the config no longer yields a context.
        """
        if not self.tls_enabled:
            return None
        tls = self.current().tls
        if tls is None:
            raise WebConfigError(f"{self.path}: tls_server_config removed; restart to serve plain HTTP")
        key = (self._loaded.digest, tuple(_stamp(p) for p in tls.files()))
        with self._lock:
            if self._tls is not None and self._tls[0] == key:
                return self._tls[1]
        try:
            context = ssl_context(tls)
        except OSError as exc:  # ssl.SSLError is one
            raise WebConfigError(
                f"{self.path}: tls_server_config: cannot load certificate or key: {exc}"
            ) from None
        with self._lock:
            self._tls = (key, context)
        return context


def protect(app: App, web: WebConfigFile, authenticator: BasicAuthenticator | None = None) -> App:
    """`app` behind the web config: 401 without valid credentials (when users are set), headers added."""
    auth = authenticator or BasicAuthenticator()

    def protected(request: Request) -> Response:
        try:
            config = web.current()
        except WebConfigError as exc:
            log.error("web config unusable, failing the request: %s", exc)
            return error_response(HttpError(500, "web config unusable"))
        extra = tuple(config.headers.items())
        if config.users and not auth.authorized(config.users, request.headers.get("authorization")):
            response = error_response(HttpError(401, "credentials missing or wrong", (CHALLENGE,)))
        else:
            response = app(request)
        return replace(response, headers=(*response.headers, *extra)) if extra else response

    return protected


FLAG = "--web.config.file"


def add_flag(parser: argparse.ArgumentParser) -> None:
    """Add `--web.config.file` (exporter-toolkit's name and format) to the exporter's flags."""
    parser.add_argument(
        FLAG,
        dest="web_config_file",
        default=None,
        metavar="FILE",
        help="web config (TLS, basic auth, headers; exporter-toolkit format), re-read when it changes",
    )


def open_web_config(path: str | None) -> WebConfigFile | None:
    """The followed web config of the flag's value; None without one. WebConfigError: one line, exit 2."""
    return WebConfigFile(Path(path)) if path else None

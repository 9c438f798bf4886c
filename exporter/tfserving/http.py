"""A small keep-alive HTTP/1.1 GET client on `http.client`, for reading TF Serving every scrape.

`requests` spent ~0.5 ms of CPU per call on hooks, adapters and header objects; a scrape of 4 targets x 5
models makes 24 calls. This pool keeps one idle connection list per scheme://host:port, hands each
connection to one request at a time, and takes it back only when its response was read to the end; any
error discards it. Every request is bounded in time (connect, headers and each body read by the time left
when it starts; the whole body by the deadline) and by a body size cap. Failures raise `FetchError` with a
machine `reason` and a one-line detail.
"""

from __future__ import annotations

import http.client
import ssl
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

_CHUNK = 64 * 1024
_MAX_ROUTES = 4096  # targets come and go with pods: the URL cache never grows without bound
_MAX_HEADER_LINE = 65536  # http.client's limits
_MAX_HEADERS = 100
Connection = http.client.HTTPConnection


class _Response(http.client.HTTPResponse):
    """http.client's response with the header block read into a dict (lower-case names, first one wins).

    The stock one parses headers with the `email` package: a third of the CPU of a status read. Status
    line, chunked bodies, lengths and keep-alive stay http.client's own; only `getheader` reads headers.
    """

    def begin(self) -> None:
        if self.headers is not None:
            return
        while True:
            version, status, reason = self._read_status()
            if status != http.client.CONTINUE:
                break
            _header_lines(self.fp)
        self.code = self.status = status
        self.reason = reason.strip()
        if version in ("HTTP/1.0", "HTTP/0.9"):
            self.version = 10
        elif version.startswith("HTTP/1."):
            self.version = 11
        else:
            raise http.client.UnknownProtocol(version)
        fields: dict[str, str] = {}
        for line in _header_lines(self.fp):
            name, _, value = line.partition(":")
            fields.setdefault(name.strip().lower(), value.strip())
        self.headers = self.msg = fields
        self.chunked = fields.get("transfer-encoding", "").lower() == "chunked"
        self.chunk_left = None
        self.will_close = self._check_close()
        self.length = _content_length(fields.get("content-length"), self.chunked)
        if status in (http.client.NO_CONTENT, http.client.NOT_MODIFIED) or 100 <= status < 200:
            self.length = 0
        if not self.will_close and not self.chunked and self.length is None:
            self.will_close = True  # the body ends when the server closes

    def getheader(self, name: str, default: str | None = None) -> str | None:  # type: ignore[override]
        return self.headers.get(name.lower(), default)


class _Connection(http.client.HTTPConnection):
    response_class = _Response


class _TLSConnection(http.client.HTTPSConnection):
    response_class = _Response


def _header_lines(fp: Any) -> list[str]:
    """The header lines up to the blank line, continuation lines joined, within http.client's limits."""
    lines: list[str] = []
    while True:
        raw = fp.readline(_MAX_HEADER_LINE + 1)
        if len(raw) > _MAX_HEADER_LINE:
            raise http.client.LineTooLong("header line")
        if raw in (b"\r\n", b"\n", b""):
            return lines
        line = raw.decode("iso-8859-1").rstrip("\r\n")
        if line[:1] in (" ", "\t") and lines:  # obsolete folding: part of the previous header
            lines[-1] += " " + line.strip()
            continue
        lines.append(line)
        if len(lines) > _MAX_HEADERS:
            raise http.client.HTTPException(f"got more than {_MAX_HEADERS} headers")


def _content_length(value: str | None, chunked: bool) -> int | None:
    if not value or chunked:
        return None
    try:
        length = int(value)
    except ValueError:
        return None
    return length if length >= 0 else None


class FetchError(Exception):
    """A failed read; `reason` is one of `exporter.tfserving.source.REASONS`."""

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(detail)
        self.reason = reason


@dataclass(frozen=True)
class _Route:
    key: str  # scheme://host:port, the pool key
    https: bool
    netloc: str
    path: str


class HTTPPool:
    """Pooled GETs, safe to call from several threads at once; TLS verifies certificates by default."""

    def __init__(
        self,
        ssl_context: ssl.SSLContext | None = None,
        user_agent: str = "mlobs-exporter",
        max_idle_per_host: int = 32,
        idle_seconds: float = 30.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.ssl_context = ssl_context or ssl.create_default_context()
        self.clock = clock
        self.max_idle_per_host = max_idle_per_host
        self.idle_seconds = idle_seconds
        # http.client adds Host and `Accept-Encoding: identity` itself: bodies come uncompressed.
        self._headers = {"User-Agent": user_agent}
        self._lock = threading.Lock()
        self._idle: dict[str, list[tuple[Connection, float]]] = {}
        self._routes: dict[str, _Route] = {}
        self._swept = clock()
        self._closed = False

    def get(self, url: str, deadline: float, max_body_bytes: int) -> tuple[int, bytes]:
        """GET `url`; returns (status, body) of any status, or raises FetchError."""
        route = self._route(url)
        while True:
            remaining = deadline - self.clock()
            if remaining <= 0:
                raise FetchError("timeout", "no time left before the request")
            connection, reused = self._acquire(route)
            try:
                return self._exchange(route, connection, deadline, remaining, max_body_bytes)
            except _StaleConnection as exc:
                if not reused:
                    raise FetchError("connection", str(exc)) from None
                # The server closed an idle kept-alive connection as we sent: a GET is safe to send again.
                continue

    def close(self) -> None:
        with self._lock:
            self._closed = True
            idle = [connection for entries in self._idle.values() for connection, _ in entries]
            self._idle.clear()
        for connection in idle:
            connection.close()

    def _exchange(
        self, route: _Route, connection: Connection, deadline: float, remaining: float, max_body_bytes: int
    ) -> tuple[int, bytes]:
        try:
            # One timeout per request bounds connect, the TLS handshake and every read (each setting costs a
            # system call); the body loop checks the overall deadline between reads.
            if connection.sock is None:
                connection.timeout = remaining
                connection.connect()
            else:
                connection.sock.settimeout(remaining)
            connection.request("GET", route.path, headers=self._headers)
            response = connection.getresponse()
        except (OSError, http.client.HTTPException) as exc:
            connection.close()
            raise _request_error(exc, remaining) from None
        except BaseException:
            connection.close()
            raise
        try:
            body = _read_body(response, deadline, remaining, max_body_bytes, self.clock)
        except BaseException:
            response.close()
            connection.close()  # an unread rest of the body makes it unusable
            raise
        response.close()
        self._release(route, connection, response.will_close)
        return response.status, body

    def _route(self, url: str) -> _Route:
        route = self._routes.get(url)
        if route is None:
            parts = urlsplit(url)
            if parts.scheme not in ("http", "https") or not parts.hostname:
                raise FetchError("connection", f"{url[:80]!r} is not an http or https URL")
            path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
            route = _Route(f"{parts.scheme}://{parts.netloc}", parts.scheme == "https", parts.netloc, path)
            if len(self._routes) >= _MAX_ROUTES:
                self._routes.clear()
            self._routes[url] = route
        return route

    def _acquire(self, route: _Route) -> tuple[Connection, bool]:
        """The most recently used idle connection, or a new one (not yet connected)."""
        while True:
            with self._lock:
                idle = self._idle.get(route.key)
                entry = idle.pop() if idle else None
            if entry is None:
                break
            connection, since = entry
            # No check that the server kept it open (a system call per request): a GET sent on a connection
            # the server has closed fails before any answer and is sent again on a new one.
            if self.clock() - since < self.idle_seconds and connection.sock is not None:
                return connection, True
            connection.close()
        if route.https:
            return _TLSConnection(route.netloc, context=self.ssl_context), False
        return _Connection(route.netloc), False

    def _release(self, route: _Route, connection: Connection, will_close: bool) -> None:
        now = self.clock()
        expired: list[Connection] = []
        with self._lock:
            idle = self._idle.setdefault(route.key, [])
            if will_close or self._closed or len(idle) >= self.max_idle_per_host:
                expired.append(connection)
            else:
                idle.append((connection, now))
            if now - self._swept > self.idle_seconds:  # connections to targets that went away
                self._swept = now
                for key, entries in list(self._idle.items()):
                    expired.extend(c for c, since in entries if now - since >= self.idle_seconds)
                    entries[:] = [(c, since) for c, since in entries if now - since < self.idle_seconds]
                    if not entries:
                        del self._idle[key]
        for stale in expired:
            stale.close()


class _StaleConnection(Exception):
    """The connection was closed by the server before any answer."""


def _request_error(exc: OSError | http.client.HTTPException, remaining: float) -> Exception:
    """What a failure before the response headers means."""
    if isinstance(exc, ConnectionResetError | BrokenPipeError | http.client.RemoteDisconnected):
        return _StaleConnection(_describe(exc))
    if isinstance(exc, TimeoutError):
        return FetchError("timeout", f"no answer within {remaining:.2g}s")
    return FetchError("connection", _describe(exc))


def _read_body(
    response: http.client.HTTPResponse,
    deadline: float,
    budget: float,
    max_body_bytes: int,
    clock: Callable[[], float],
) -> bytes:
    declared = response.length  # Content-Length; None when chunked or delimited by the server closing
    if declared is not None and declared > max_body_bytes:
        raise FetchError("too_large", f"body of {declared} bytes over the {max_body_bytes} cap")
    encoding = response.getheader("Content-Encoding", "identity").strip().lower()
    if encoding != "identity":
        raise FetchError("invalid_body", f"body in unrequested Content-Encoding {encoding[:40]!r}")
    chunks, size = [], 0
    while response.length != 0:
        if clock() >= deadline:
            raise FetchError("timeout", f"body not read within {budget:.3g}s")
        try:
            chunk = response.read1(_CHUNK)
        except TimeoutError:
            raise FetchError("timeout", f"body stalled for {budget:.3g}s") from None
        except (http.client.IncompleteRead, ConnectionError) as exc:
            raise FetchError("truncated", f"body cut off after {size} bytes: {_describe(exc)}") from None
        except (OSError, http.client.HTTPException) as exc:
            raise FetchError("connection", _describe(exc)) from None
        if not chunk:
            break
        size += len(chunk)
        if size > max_body_bytes:
            raise FetchError("too_large", f"body over the {max_body_bytes} byte cap")
        chunks.append(chunk)
    if response.length:  # the connection ended before the declared length
        raise FetchError("truncated", f"body cut off after {size} of {declared} bytes")
    return b"".join(chunks)


def _describe(exc: BaseException) -> str:
    text = str(exc).split("\n", 1)[0][:200]
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__

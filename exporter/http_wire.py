"""HTTP/1.x on the wire: a request head parsed strictly, a response encoded with a status line.

Only what an exporter needs: GET and HEAD, no bodies read, one request per connection. Every refusal is
an `HttpError` carrying the status the client gets, so no request ends without a status line.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from http import HTTPStatus
from urllib.parse import unquote, urlsplit

# A head longer than this, or a request line longer than MAX_LINE, is refused before it is parsed.
MAX_LINE = 8 * 1024
MAX_HEAD = 64 * 1024
MAX_HEADERS = 100
ALLOWED_METHODS = ("GET", "HEAD")

_TOKEN = re.compile(r"^[!#$%&'*+.^_`|~0-9A-Za-z-]+$")
_VERSION = re.compile(r"^HTTP/(\d)\.(\d)$")


class HttpError(Exception):
    """A request refused with `status`; `headers` go with the error page."""

    def __init__(self, status: int, detail: str, headers: tuple[tuple[str, str], ...] = ()) -> None:
        super().__init__(detail)
        self.status = status
        self.headers = headers


@dataclass(frozen=True)
class Request:
    method: str
    path: str  # percent-decoded, without the query
    query: str
    version: str
    headers: dict[str, str] = field(default_factory=dict)  # lower-case names; repeats joined with ", "


@dataclass(frozen=True)
class Response:
    status: int
    headers: tuple[tuple[str, str], ...]
    body: bytes


def head_end(buffer: bytes | bytearray, start: int = 0) -> int:
    """Index just past the blank line that ends the head, or -1 while it is incomplete."""
    start = max(0, start - 3)
    crlf, lf = buffer.find(b"\r\n\r\n", start), buffer.find(b"\n\n", start)
    ends = [i + 4 for i in (crlf,) if i >= 0] + [i + 2 for i in (lf,) if i >= 0]
    return min(ends) if ends else -1


def check_incomplete(buffer: bytes | bytearray) -> None:
    """Refuse a head that is still incomplete but already over the limits, or that is not HTTP at all."""
    if buffer[:1] == b"\x16":  # a TLS handshake never ends in a blank line: say so now, not at the timeout
        raise HttpError(400, "a TLS handshake on a plain HTTP port")
    if len(buffer) > MAX_LINE and b"\n" not in buffer[: MAX_LINE + 2]:
        raise HttpError(414, "request line too long")
    if len(buffer) > MAX_HEAD:
        raise HttpError(431, "request head too large")


def read_request(buffer: bytes | bytearray, start: int = 0) -> Request | None:
    """The request once `buffer` (grown from `start`) holds a whole head, else None; HttpError if refused."""
    end = head_end(buffer, start)
    if end < 0:
        check_incomplete(buffer)
        return None
    request = parse_head(bytes(buffer[:end]))
    if request.method not in ALLOWED_METHODS:
        raise HttpError(405, f"method {request.method} not allowed", (("Allow", "GET, HEAD"),))
    return request


def parse_head(head: bytes) -> Request:
    """Parse a complete head (request line and headers, up to and including the blank line)."""
    lines = head.decode("latin-1").lstrip("\r\n").split("\n")
    lines = [line.removesuffix("\r") for line in lines]
    request_line, header_lines = lines[0], [line for line in lines[1:] if line]
    if len(request_line) > MAX_LINE:
        raise HttpError(414, "request line too long")
    parts = request_line.split(" ")
    if len(parts) != 3 or not _TOKEN.match(parts[0]):
        raise HttpError(400, "malformed request line")
    method, target, version = parts
    match = _VERSION.match(version)
    if not match:
        raise HttpError(400, "malformed request line")
    if match[1] != "1":
        raise HttpError(505, f"{version} is not supported")
    if len(header_lines) > MAX_HEADERS:
        raise HttpError(431, "too many headers")
    headers: dict[str, str] = {}
    for line in header_lines:
        name, colon, value = line.partition(":")
        if not colon or not _TOKEN.match(name):  # also refuses folded lines and "Name :" (RFC 9112 5.1)
            raise HttpError(400, "malformed header")
        key, value = name.lower(), value.strip(" \t")
        headers[key] = f"{headers[key]}, {value}" if key in headers else value
    path, query = _target(target)
    return Request(method, path, query, version, headers)


def _target(target: str) -> tuple[str, str]:
    if target.startswith("/"):
        path, _, query = target.partition("?")
    elif target.startswith(("http://", "https://")):  # absolute form, as proxies send it
        parts = urlsplit(target)
        path, query = parts.path or "/", parts.query
    else:
        raise HttpError(400, "malformed request target")
    return unquote(path, "latin-1"), query


def encode(response: Response, head_only: bool = False) -> bytes:
    """The response as bytes: status line, headers with Content-Length, the body unless `head_only`."""
    lines = [f"HTTP/1.1 {response.status} {_reason(response.status)}"]
    lines += [f"{name}: {value}" for name, value in response.headers]
    lines += [f"Content-Length: {len(response.body)}", "Connection: close", "", ""]
    head = "\r\n".join(lines).encode("latin-1")
    return head if head_only else head + response.body


def error_response(error: HttpError) -> Response:
    body = f"{error.status} {_reason(error.status).lower()}: {error}\n".encode()
    return Response(error.status, (("Content-Type", "text/plain; charset=utf-8"), *error.headers), body)


def _reason(status: int) -> str:
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return "Unknown"

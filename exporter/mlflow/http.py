"""The MLflow REST API over `requests`: auth and TLS as the official client does them, errors sorted
by kind, bounded reads (body size, same-origin redirects, one timeout per call), pagination that cannot
loop, and every call counted per endpoint for the availability SLI."""

from __future__ import annotations

import base64
import json
import re
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, NoReturn, TypeVar
from urllib.parse import urljoin, urlsplit

from exporter import __version__
from exporter.mlflow.stats import RequestStats
from exporter.mlflow.typed_json import Malformed, Obj
from exporter.textsafe import MESSAGE_LIMIT, safe_message

if TYPE_CHECKING:  # requests is imported by whoever makes the session: only an enabled collector pays
    import requests

API_PREFIX = "/api/2.0/mlflow/"
DEFAULT_MAX_BODY_BYTES = 8 * 1024 * 1024
MAX_REDIRECTS = 3
CHUNK_BYTES = 64 * 1024
ERROR_BODY_BYTES = 64 * 1024
_OVER_CAP = "over the {} byte cap: raise mlflow.max_body_bytes or lower mlflow.page_size"
T = TypeVar("T")
_CAUSE = re.compile(r"\[(?:Errno [^\]]+|SSL: [^\]]+)\][^'\")]*")


class MlflowError(Exception):
    """A failed MLflow call; `kind` is one of mlflow_stats.ERROR_KINDS."""

    def __init__(self, kind: str, endpoint: str, message: str) -> None:
        # Upstream text (error messages, Locations) reaches logs and /health: one line, bounded, printable.
        super().__init__(f"{endpoint}: {kind}: {safe_message(message)}")
        self.kind = kind
        self.endpoint = endpoint


@dataclass(frozen=True)
class Credentials:
    """MLFLOW_TRACKING_USERNAME + PASSWORD (Basic) win over MLFLOW_TRACKING_TOKEN (Bearer), as in mlflow."""

    username: str = ""
    password: str = field(default="", repr=False)
    token: str = field(default="", repr=False)

    @classmethod
    def from_environ(cls, environ: Mapping[str, str]) -> Credentials:
        return cls(
            username=environ.get("MLFLOW_TRACKING_USERNAME", ""),
            password=environ.get("MLFLOW_TRACKING_PASSWORD", ""),
            token=environ.get("MLFLOW_TRACKING_TOKEN", ""),
        )

    @property
    def scheme(self) -> str:
        if self.username and self.password:
            return "basic"
        return "bearer" if self.token else "none"

    def headers(self) -> dict[str, str]:
        if self.scheme == "basic":
            pair = base64.standard_b64encode(f"{self.username}:{self.password}".encode()).decode()
            return {"Authorization": f"Basic {pair}"}
        if self.scheme == "bearer":
            return {"Authorization": f"Bearer {self.token}"}
        return {}


@dataclass(frozen=True)
class Tls:
    """What `requests` takes as `verify` (True, False or a CA bundle path) and `cert`."""

    verify: bool | str = True
    cert: str | tuple[str, str] | None = None


def _kind_of_status(status: int, body: Any) -> str:
    if status == 401:
        return "unauthorized"
    if status == 403:
        return "forbidden"
    if status == 404 or (isinstance(body, dict) and body.get("error_code") == "RESOURCE_DOES_NOT_EXIST"):
        return "not_found"
    return "server_error" if status >= 500 else "client_error"


def _origin(url: str) -> tuple[str, str, int | None]:
    parts = urlsplit(url)
    try:
        port = parts.port
    except ValueError:  # a Location with a port beyond 65535 goes nowhere we know
        port = -1
    default = {"http": 80, "https": 443}.get(parts.scheme)
    return parts.scheme, (parts.hostname or ""), port or default


class MlflowHttp:
    """Calls `<tracking uri>/api/2.0/mlflow/<endpoint>`; every failure becomes an MlflowError.

    Bodies are read streamed up to `max_body_bytes`; redirects are followed only on the tracking server's
    own origin, at most MAX_REDIRECTS times, so credentials never travel to another host."""

    def __init__(
        self,
        tracking_uri: str,
        session: requests.Session,
        credentials: Credentials,
        tls: Tls,
        timeout: float,
        stats: RequestStats,
        page_size: int = 1000,
        max_pages: int = 100,
        max_body_bytes: int = DEFAULT_MAX_BODY_BYTES,
        timer: Callable[[], float] = time.perf_counter,
    ) -> None:
        self._base = tracking_uri.rstrip("/") + API_PREFIX
        self._session = session
        self._headers = {"User-Agent": f"mlobs-exporter/{__version__}", **credentials.headers()}
        self._tls = tls
        self._timeout = timeout
        self.stats = stats
        self.page_size = page_size
        self.max_pages = max_pages
        self.max_body_bytes = max_body_bytes
        self._timer = timer

    def close(self) -> None:
        self._session.close()

    def get(self, endpoint: str, params: Mapping[str, Any], parse: Callable[[Obj], T]) -> T:
        """One GET, its answer read with `parse`; a shape `parse` rejects is a counted malformed error."""
        body = self._call("GET", endpoint, params=params)
        return self._parsed(endpoint, parse, body)

    def _parsed(self, endpoint: str, parse: Callable[[Obj], T], node: Obj) -> T:
        try:
            return parse(node)
        except Malformed as exc:
            self.stats.error(endpoint, "malformed")
            raise MlflowError("malformed", endpoint, str(exc)) from None

    def _call(
        self, method: str, endpoint: str, params: Mapping[str, Any] | None = None, body: Any = None
    ) -> Obj:
        import requests  # loaded already: the session is one

        started = self._timer()
        try:
            status, content = self._exchange(method, self._base + endpoint, params, body, started)
        except _Refused as refused:
            self._fail(endpoint, started, refused.kind, refused.message)
        except requests.exceptions.SSLError as exc:
            self._fail(endpoint, started, "tls", _short(exc))
        except requests.exceptions.Timeout:
            self._fail(endpoint, started, "timeout", f"no answer within {self._timeout:g}s")
        except requests.exceptions.RequestException as exc:
            if _timed_out_reading(exc):
                self._fail(endpoint, started, "timeout", f"no answer within {self._timeout:g}s")
            self._fail(endpoint, started, "connection", _short(exc))
        try:
            data = json.loads(content) if content.strip() else {}
        except (ValueError, RecursionError):  # RecursionError: nesting deeper than the decoder's stack
            data = None
        if not 200 <= status < 300:
            message = f"HTTP {status} {_error_text(data, content)}".strip()
            self._fail(endpoint, started, _kind_of_status(status, data), message)
        if not isinstance(data, dict):
            self._fail(endpoint, started, "malformed", f"HTTP {status} body is not a JSON object")
        self.stats.observe(endpoint, self._timer() - started, None)
        return Obj(data)

    def _exchange(
        self, method: str, url: str, params: Mapping[str, Any] | None, body: Any, started: float
    ) -> tuple[int, bytes]:
        """Status and body of one call, following same-origin redirects."""
        for _ in range(MAX_REDIRECTS + 1):
            response = self._session.request(
                method,
                url,
                params=params,
                json=body,
                headers=self._headers,
                timeout=self._timeout,
                verify=self._tls.verify,
                cert=self._tls.cert,
                allow_redirects=False,
                stream=True,
            )
            with response:
                if not response.is_redirect:
                    status = response.status_code
                    if 200 <= status < 300:
                        return status, self._read(response, started, self.max_body_bytes)
                    # An error's body only gives its text: cut, not refused, so a 500 stays a server_error.
                    return status, self._read(response, started, ERROR_BODY_BYTES, cut=True)
                target = self._redirect_target(url, response)
            url, params = target, None  # the Location carries its own query
            if response.status_code == 303:
                method, body = "GET", None
        raise _Refused("redirect", f"more than {MAX_REDIRECTS} redirects")

    def _redirect_target(self, url: str, response: requests.Response) -> str:
        try:
            target = urljoin(url, response.headers["location"])
            origin = _origin(target)
        except ValueError:  # e.g. an unclosed IPv6 bracket
            raise _Refused("redirect", f"HTTP {response.status_code} to an unreadable Location") from None
        if origin != _origin(self._base):
            scheme, host, _ = origin
            where = f"{scheme}://{host}"
            raise _Refused("redirect", f"HTTP {response.status_code} to {where}: another host, not followed")
        return target

    def _read(self, response: requests.Response, started: float, cap: int, cut: bool = False) -> bytes:
        """The body, read in chunks up to `cap` (over it: refused, or `cut` there) and within the request
        timeout overall."""
        declared = response.headers.get("content-length", "")
        if not cut and declared.isdigit() and int(declared) > cap:
            raise _Refused("too_large", f"body of {declared} bytes {_OVER_CAP.format(cap)}")
        content = bytearray()
        for chunk in response.iter_content(CHUNK_BYTES):
            content += chunk
            if len(content) > cap:
                if cut:
                    return bytes(content[:cap])
                raise _Refused("too_large", f"body {_OVER_CAP.format(cap)}")
            if self._timer() - started > self._timeout:  # a trickle that never trips the read timeout
                raise _Refused("timeout", f"body not read within {self._timeout:g}s")
        return bytes(content)

    def _fail(self, endpoint: str, started: float, kind: str, message: str) -> NoReturn:
        self.stats.observe(endpoint, self._timer() - started, kind)
        raise MlflowError(kind, endpoint, message)

    def pages(
        self,
        method: str,
        endpoint: str,
        items_key: str,
        query: Mapping[str, Any],
        parse: Callable[[Obj], T],
        limit: int | None = None,
    ) -> Iterator[T]:
        """Yield parsed items across pages; a repeated page token or more than `max_pages` pages is an error.

        With `limit`, stop after that many items (no error): callers that only want the newest N."""
        token: str | None = None
        seen: set[str] = set()
        yielded = 0
        for _ in range(self.max_pages):
            size = self.page_size if limit is None else min(self.page_size, limit - yielded)
            request = {**query, "max_results": size, **({"page_token": token} if token else {})}
            page = (
                self._call(method, endpoint, params=request)
                if method == "GET"
                else self._call(method, endpoint, body=request)
            )
            items = self._parsed(endpoint, lambda node: node.objects(items_key), page)
            token = self._parsed(endpoint, lambda node: node.text("next_page_token", ""), page) or None
            for item in items:
                yield self._parsed(endpoint, parse, item)
            yielded += len(items)
            if token is None or (limit is not None and yielded >= limit):
                return
            if token in seen:
                self.stats.error(endpoint, "pagination")
                raise MlflowError("pagination", endpoint, "the server repeated a page token")
            seen.add(token)
        self.stats.error(endpoint, "pagination")
        raise MlflowError("pagination", endpoint, f"more than {self.max_pages} pages")


class _Refused(Exception):
    """A call given up on by this client (redirect elsewhere, body over the cap), as an error kind."""

    def __init__(self, kind: str, message: str) -> None:
        super().__init__(message)
        self.kind = kind
        self.message = message


def _error_text(data: Any, content: bytes) -> str:
    """MLflow's `message`, else the start of a body that is not JSON (a proxy's HTML or plain text)."""
    if isinstance(data, dict):
        return str(data.get("message") or "")
    return content[: MESSAGE_LIMIT * 4].decode("utf-8", "replace")


def _timed_out_reading(exc: requests.exceptions.RequestException) -> bool:
    """requests reports a read timeout inside the body as a ConnectionError wrapping urllib3's."""
    import urllib3

    return any(isinstance(arg, urllib3.exceptions.ReadTimeoutError) for arg in exc.args)


def _short(exc: Exception) -> str:
    """One line a person can act on: urllib3 buries the cause (`[Errno 111] Connection refused`,
    `[SSL: CERTIFICATE_VERIFY_FAILED] ...`) at the end of a long message."""
    text = str(exc)
    cause = _CAUSE.search(text)
    if cause:
        return cause.group(0).strip()
    return text or type(exc).__name__

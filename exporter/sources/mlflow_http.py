"""The MLflow REST API over `requests`: auth and TLS as the official client does them, errors sorted
by kind, pagination that cannot loop, and per-endpoint request accounting for the availability SLI."""

from __future__ import annotations

import base64
import bisect
import json
import re
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any, NoReturn

import requests

from exporter import __version__

API_PREFIX = "/api/2.0/mlflow/"
DURATION_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
# Every kind is exported from the first request on, so rate() over them never starts from nothing.
_CAUSE = re.compile(r"\[(?:Errno [^\]]+|SSL: [^\]]+)\][^'\")]*")
ERROR_KINDS = (
    "connection",
    "timeout",
    "tls",
    "unauthorized",
    "forbidden",
    "not_found",
    "client_error",
    "server_error",
    "malformed",
    "pagination",
)


class MlflowError(Exception):
    """A failed MLflow call; `kind` is one of ERROR_KINDS."""

    def __init__(self, kind: str, endpoint: str, message: str) -> None:
        super().__init__(f"{endpoint}: {kind}: {message}")
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


@dataclass(frozen=True)
class EndpointStats:
    endpoint: str
    requests: int
    errors: dict[str, int]
    buckets: list[tuple[str, float]]  # cumulative, ending with +Inf
    duration_sum: float


class _Accumulator:
    def __init__(self) -> None:
        self.requests = 0
        self.errors = dict.fromkeys(ERROR_KINDS, 0)
        self.bucket_counts = [0] * (len(DURATION_BUCKETS) + 1)
        self.duration_sum = 0.0


class RequestStats:
    """Counters and a duration histogram per endpoint, kept for the life of the process (thread-safe)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._by_endpoint: dict[str, _Accumulator] = {}

    def _get(self, endpoint: str) -> _Accumulator:
        return self._by_endpoint.setdefault(endpoint, _Accumulator())

    def observe(self, endpoint: str, seconds: float, error_kind: str | None) -> None:
        with self._lock:
            acc = self._get(endpoint)
            acc.requests += 1
            acc.bucket_counts[bisect.bisect_left(DURATION_BUCKETS, seconds)] += 1
            acc.duration_sum += seconds
            if error_kind:
                acc.errors[error_kind] += 1

    def error(self, endpoint: str, kind: str) -> None:
        """Count an error found after the request itself succeeded (a looping page token)."""
        with self._lock:
            self._get(endpoint).errors[kind] += 1

    def snapshot(self) -> list[EndpointStats]:
        with self._lock:
            out = []
            for endpoint, acc in sorted(self._by_endpoint.items()):
                running, buckets = 0, []
                for bound, count in zip((*DURATION_BUCKETS, float("inf")), acc.bucket_counts, strict=True):
                    running += count
                    buckets.append(("+Inf" if bound == float("inf") else str(bound), float(running)))
                out.append(EndpointStats(endpoint, acc.requests, dict(acc.errors), buckets, acc.duration_sum))
            return out


def _kind_of_status(status: int, body: Any) -> str:
    if status == 401:
        return "unauthorized"
    if status == 403:
        return "forbidden"
    if status == 404 or (isinstance(body, dict) and body.get("error_code") == "RESOURCE_DOES_NOT_EXIST"):
        return "not_found"
    return "server_error" if status >= 500 else "client_error"


class MlflowHttp:
    """Calls `<tracking uri>/api/2.0/mlflow/<endpoint>`; every failure becomes an MlflowError."""

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
        self._timer = timer

    def close(self) -> None:
        self._session.close()

    def get(self, endpoint: str, params: Mapping[str, Any]) -> dict[str, Any]:
        return self._call("GET", endpoint, params=params)

    def post(self, endpoint: str, body: Mapping[str, Any]) -> dict[str, Any]:
        return self._call("POST", endpoint, body=body)

    def _call(
        self, method: str, endpoint: str, params: Mapping[str, Any] | None = None, body: Any = None
    ) -> dict[str, Any]:
        started = self._timer()
        try:
            response = self._session.request(
                method,
                self._base + endpoint,
                params=params,
                json=body,
                headers=self._headers,
                timeout=self._timeout,
                verify=self._tls.verify,
                cert=self._tls.cert,
            )
            status, text = response.status_code, response.text
        except requests.exceptions.SSLError as exc:
            self._fail(endpoint, started, "tls", _short(exc))
        except requests.exceptions.Timeout:
            self._fail(endpoint, started, "timeout", f"no answer within {self._timeout:g}s")
        except requests.exceptions.RequestException as exc:
            self._fail(endpoint, started, "connection", _short(exc))
        try:
            data = json.loads(text) if text.strip() else {}
        except ValueError:
            data = None
        if not 200 <= status < 300:
            message = data.get("message") if isinstance(data, dict) else None
            self._fail(
                endpoint, started, _kind_of_status(status, data), f"HTTP {status} {message or ''}".strip()
            )
        if not isinstance(data, dict):
            self._fail(endpoint, started, "malformed", f"HTTP {status} body is not a JSON object")
        self.stats.observe(endpoint, self._timer() - started, None)
        return data

    def _fail(self, endpoint: str, started: float, kind: str, message: str) -> NoReturn:
        self.stats.observe(endpoint, self._timer() - started, kind)
        raise MlflowError(kind, endpoint, message)

    def pages(
        self, method: str, endpoint: str, items_key: str, query: Mapping[str, Any], limit: int | None = None
    ) -> Iterator[dict[str, Any]]:
        """Yield items across pages; a repeated page token or more than `max_pages` pages is an error.

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
                else self.post(endpoint, request)
            )
            items = page.get(items_key, [])
            if not isinstance(items, list):
                self.stats.error(endpoint, "malformed")
                raise MlflowError("malformed", endpoint, f"{items_key} is not a list")
            for item in items:
                if not isinstance(item, dict):
                    self.stats.error(endpoint, "malformed")
                    raise MlflowError("malformed", endpoint, f"an entry of {items_key} is not an object")
                yield item
            yielded += len(items)
            token = page.get("next_page_token") or None
            if token is None or (limit is not None and yielded >= limit):
                return
            if not isinstance(token, str) or token in seen:
                self.stats.error(endpoint, "pagination")
                raise MlflowError("pagination", endpoint, "the server repeated a page token")
            seen.add(token)
        self.stats.error(endpoint, "pagination")
        raise MlflowError("pagination", endpoint, f"more than {self.max_pages} pages")


def _short(exc: Exception) -> str:
    """One line a person can act on: urllib3 buries the cause (`[Errno 111] Connection refused`,
    `[SSL: CERTIFICATE_VERIFY_FAILED] ...`) at the end of a long message."""
    text = str(exc)
    cause = _CAUSE.search(text)
    if cause:
        return cause.group(0).strip()
    return (text.splitlines()[0] if text else type(exc).__name__)[:200]

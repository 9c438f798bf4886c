"""Read one TF Serving instance over its REST port: the metrics page and each model's status.

Every read is bounded: a deadline for the whole request (a slow-drip server cannot hold a scrape), and a cap
on the body (read in chunks, so a huge page is cut off instead of filling memory). Failures raise
`FetchError` with a short machine `reason` for the error counter and a one-line `detail` for the log.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

import requests
from urllib3.exceptions import ReadTimeoutError

from exporter.sources.tfserving_page import PageError, ServingPage, parse_page

DEFAULT_METRICS_PATH = "/monitoring/prometheus/metrics"
STATES = ("UNKNOWN", "START", "LOADING", "AVAILABLE", "UNLOADING", "END")
REASONS = (
    "timeout",
    "connection",
    "http_status",
    "too_large",
    "truncated",
    "invalid_body",
    "model_not_found",
)
_CHUNK = 64 * 1024


class FetchError(Exception):
    """A failed read; `reason` is one of REASONS."""

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(detail)
        self.reason = reason


@dataclass(frozen=True)
class Target:
    """One TF Serving instance: its REST base URL, the models it is known to serve, and where it came from."""

    url: str
    models: tuple[str, ...] = ()
    metrics_path: str = DEFAULT_METRICS_PATH
    timeout: float = 2.0
    namespace: str = ""
    pod: str = ""
    pod_uid: str = ""
    node: str = ""


@dataclass(frozen=True)
class VersionStatus:
    version: str
    state: str
    error_code: str = "OK"
    error_message: str = ""


@dataclass(frozen=True)
class ModelStatus:
    """`GET /v1/models/{name}`: every version the server has seen, newest first; `found` False on 404."""

    model: str
    versions: tuple[VersionStatus, ...]
    found: bool = True

    def available(self) -> list[str]:
        return [v.version for v in self.versions if v.state == "AVAILABLE"]


def parse_model_status(model: str, body: bytes) -> ModelStatus:
    """Parse a status response; raise FetchError(invalid_body) when it is not one."""
    try:
        data = json.loads(body)
        entries = data["model_version_status"]
        if not isinstance(entries, list):
            raise TypeError("model_version_status is not a list")
        versions = tuple(_version_status(entry) for entry in entries)
    except (ValueError, KeyError, TypeError, AttributeError) as exc:
        raise FetchError(
            "invalid_body", f"model {model}: status is not a model_version_status: {exc}"
        ) from None
    return ModelStatus(model, versions)


def _version_status(entry: Any) -> VersionStatus:
    # int64 prints as a JSON string; accept a number too, as older protobuf printers wrote one.
    version = entry["version"]
    if isinstance(version, bool) or not isinstance(version, int | str) or not str(version).isdigit():
        raise ValueError(f"version {version!r} is not a number")
    state = entry.get("state", "UNKNOWN")
    if state not in STATES:
        raise ValueError(f"unknown state {state!r}")
    status = entry.get("status") or {}
    error_code = str(status.get("error_code", "OK") or "OK")
    return VersionStatus(str(version), state, error_code[:64], str(status.get("error_message", "")))


def error_message(body: bytes) -> str:
    """The message of a TF Serving error body `{ "error": "..." }`, or the start of the body."""
    try:
        message = json.loads(body).get("error")
        if isinstance(message, str):
            return message[:200]
    except (ValueError, AttributeError):
        pass
    return body[:80].decode("utf-8", "replace")


class TFServingClient:
    """Reads TF Serving over one pooled session; safe to call from several threads at once."""

    def __init__(
        self, session: requests.Session, max_body_bytes: int, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.session = session
        self.max_body_bytes = max_body_bytes
        self.clock = clock
        # The same URLs every scrape: preparing each once saves a third of requests' CPU per call.
        self._prepared: dict[str, requests.PreparedRequest] = {}

    def metrics_page(self, target: Target, deadline: float) -> ServingPage:
        status, body = self._get(target.url + target.metrics_path, deadline)
        if status != 200:
            raise FetchError("http_status", f"{target.metrics_path}: HTTP {status}: {error_message(body)}")
        try:
            return parse_page(body.decode("utf-8"))
        except UnicodeDecodeError:
            raise FetchError("invalid_body", f"{target.metrics_path}: not UTF-8 text") from None
        except PageError as exc:
            raise FetchError("invalid_body", f"{target.metrics_path}: {exc}") from None

    def model_status(self, target: Target, model: str, deadline: float) -> ModelStatus:
        status, body = self._get(f"{target.url}/v1/models/{quote(model, safe='')}", deadline)
        if status == 404:
            return ModelStatus(model, (), found=False)
        if status != 200:
            raise FetchError("http_status", f"model {model}: HTTP {status}: {error_message(body)}")
        return parse_model_status(model, body)

    def _get(self, url: str, deadline: float) -> tuple[int, bytes]:
        remaining = deadline - self.clock()
        if remaining <= 0:
            raise FetchError("timeout", "no time left before the request")
        try:
            prepared = self._prepare(url)
            # The session's adapter directly: no cookies, hooks, proxies or redirects to resolve per call,
            # which is a fifth of requests' cost; TLS settings still come from the session.
            adapter = self.session.get_adapter(url)
            verify = True if self.session.verify is None else self.session.verify
            with adapter.send(
                prepared, stream=True, timeout=remaining, verify=verify, cert=self.session.cert
            ) as response:
                declared = response.headers.get("Content-Length", "")
                if declared.isdigit() and int(declared) > self.max_body_bytes:
                    raise FetchError(
                        "too_large", f"body of {declared} bytes over the {self.max_body_bytes} cap"
                    )
                chunks, size = [], 0
                for chunk in response.iter_content(_CHUNK):
                    size += len(chunk)
                    if size > self.max_body_bytes:
                        raise FetchError("too_large", f"body over the {self.max_body_bytes} byte cap")
                    if self.clock() > deadline:
                        raise FetchError("timeout", f"body not read within {remaining:.3g}s")
                    chunks.append(chunk)
                return response.status_code, b"".join(chunks)
        except requests.Timeout:
            raise FetchError("timeout", f"no answer within {remaining:.3g}s") from None
        except requests.ConnectionError as exc:
            # A body stalling after the headers is a ConnectionError wrapping urllib3's read timeout.
            if exc.args and isinstance(exc.args[0], ReadTimeoutError):
                raise FetchError("timeout", f"body stalled for {remaining:.3g}s") from None
            raise FetchError("connection", _first_line(exc)) from None
        except requests.exceptions.ChunkedEncodingError as exc:
            raise FetchError("truncated", f"body cut off: {_first_line(exc)}") from None
        except requests.exceptions.ContentDecodingError as exc:
            raise FetchError("invalid_body", f"undecodable body: {_first_line(exc)}") from None
        except requests.RequestException as exc:
            raise FetchError("connection", _first_line(exc)) from None

    def _prepare(self, url: str) -> requests.PreparedRequest:
        prepared = self._prepared.get(url)
        if prepared is None:
            if len(self._prepared) >= 4096:  # targets come and go with pods: never grow without bound
                self._prepared.clear()
            prepared = self._prepared[url] = self.session.prepare_request(requests.Request("GET", url))
        return prepared


def _first_line(exc: Exception) -> str:
    return str(exc).split("\n", 1)[0][:200]

"""Read one TF Serving instance over its REST port: the metrics page and each model's status.

Every read is bounded (see `http`): a deadline for the whole request (a slow-drip server cannot
hold a scrape), and a cap on the body (read in chunks, so a huge page is cut off instead of filling memory).
Failures raise `FetchError` with a short machine `reason` for the error counter and a one-line `detail`
for the log.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

from exporter.textsafe import safe_message
from exporter.tfserving.http import FetchError as FetchError  # raised by every read here
from exporter.tfserving.http import HTTPPool
from exporter.tfserving.page import parse_page
from exporter.tfserving.page_data import ServingPage
from exporter.tfserving.targets import Target

STATES = ("UNKNOWN", "START", "LOADING", "AVAILABLE", "UNLOADING", "END")
REASONS = (
    "timeout",
    "connection",
    "http_status",
    "too_large",
    "truncated",
    "invalid_body",
    "model_not_found",
    "no_request_data",
    "dropped_lines",
)


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
    except (ValueError, KeyError, TypeError, AttributeError, RecursionError) as exc:
        detail = safe_message(f"model {model}: status is not a model_version_status: {exc}")
        raise FetchError("invalid_body", detail) from None
    return ModelStatus(model, versions)


def _version_status(entry: Any) -> VersionStatus:
    # int64 prints as a JSON string; accept a number too, as older protobuf printers wrote one.
    version = entry["version"]
    if isinstance(version, bool) or not isinstance(version, int | str) or not _is_number(str(version)):
        raise ValueError(f"version {version!r} is not a number")
    state = entry.get("state", "UNKNOWN")
    if state not in STATES:
        raise ValueError(f"unknown state {state!r}")
    status = entry.get("status") or {}
    error_code = str(status.get("error_code", "OK") or "OK")
    return VersionStatus(str(version), state, error_code, str(status.get("error_message", "")))


def _is_number(text: str) -> bool:
    return text.isascii() and text.isdigit()


def error_message(body: bytes) -> str:
    """The message of a TF Serving error body `{ "error": "..." }`, or the start of the body."""
    try:
        message = json.loads(body).get("error")
        if isinstance(message, str):
            return safe_message(message)
    except (ValueError, AttributeError, RecursionError):
        pass
    return safe_message(body[:80].decode("utf-8", "replace"))


class TFServingClient:
    """Reads TF Serving through a pooled HTTP client; safe to call from several threads at once."""

    def __init__(self, http: HTTPPool, max_body_bytes: int) -> None:
        self.http = http
        self.max_body_bytes = max_body_bytes

    def metrics_page(self, target: Target, deadline: float) -> ServingPage:
        status, body = self.http.get(target.url + target.metrics_path, deadline, self.max_body_bytes)
        if status != 200:
            raise FetchError("http_status", f"{target.metrics_path}: HTTP {status}: {error_message(body)}")
        try:
            text = body.decode("utf-8")
        except UnicodeDecodeError:  # invalid bytes kept as lone surrogates: escaped wherever they show
            text = body.decode("utf-8", "surrogateescape")
        return parse_page(text)

    def model_status(self, target: Target, model: str, deadline: float) -> ModelStatus:
        url = f"{target.url}/v1/models/{quote(model, safe='')}"
        status, body = self.http.get(url, deadline, self.max_body_bytes)
        if status == 404:
            return ModelStatus(model, (), found=False)
        if status != 200:
            raise FetchError("http_status", f"model {model}: HTTP {status}: {error_message(body)}")
        return parse_model_status(model, body)

    def close(self) -> None:
        self.http.close()

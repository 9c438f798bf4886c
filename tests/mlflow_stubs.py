"""An MLflow collector wired to canned answers: a stub `requests` session (fast, for property tests) or a
loopback HTTP server (for what only real sockets show: redirects, streamed bodies, hung connections).

The well-formed answers hold only the fields the exporter reads, so that changing any value's type is a
fault the exporter must notice, at whatever depth it sits.
"""

from __future__ import annotations

import contextlib
import io
import json
import select
import socket
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import requests
from requests.structures import CaseInsensitiveDict

from exporter.collector import IsolatingCollector
from exporter.mlflow.collector import MlflowCollector, MlflowSettings
from exporter.mlflow.http import API_PREFIX, Credentials, Tls
from exporter.mlflow.plugin import build_collector as collector_from
from exporter.mlflow.reads import MonitoringQuery, TrainingQuery
from exporter.mlflow.rows import MonitoringKeys, RegistryCaps
from tests.helpers import value

NOW_MS = 1_700_000_000_000
MODEL_TAG = "mlobs.model_name"
RUN: dict[str, Any] = {
    "info": {
        "run_id": "run-2",
        "experiment_id": "1",
        "status": "FINISHED",
        "start_time": NOW_MS - 3_600_000,
        "end_time": NOW_MS - 600_000,
    },
    "data": {
        "metrics": [{"key": "val_auc", "value": 0.91, "timestamp": NOW_MS - 1_200_000}],
        "tags": [{"key": "mlobs.model_name", "value": "fraud-detector"}],
    },
}
WELL_FORMED: dict[str, Any] = {
    "registered-models/search": {
        "registered_models": [
            {"name": "fraud-detector", "aliases": [{"alias": "production", "version": "2"}]}
        ]
    },
    "model-versions/search": {
        "model_versions": [
            {
                "name": "fraud-detector",
                "version": "2",
                "status": "READY",
                "current_stage": "None",
                "creation_timestamp": NOW_MS - 86_400_000,
                "run_id": "run-2",
            }
        ]
    },
    "runs/get": {"run": RUN},
    "experiments/get-by-name": {"experiment": {"experiment_id": "1", "name": "train-fraud"}},
    "experiments/search": {"experiments": [{"experiment_id": "2", "name": "monitoring"}]},
    "runs/search": {"runs": [RUN]},
}
# Which sections read each endpoint; the baseline is read only after this refresh's registry.
SECTIONS_OF = {
    "registered-models/search": {"registry"},
    "model-versions/search": {"registry"},
    "runs/get": {"baseline"},
    "experiments/get-by-name": {"training"},
    "experiments/search": {"monitoring"},
    "runs/search": {"training", "monitoring"},
}
SECTIONS = ("registry", "baseline", "training", "monitoring")

SETTINGS = MlflowSettings(
    tracking_uri="http://mlflow.test:5000",
    refresh_interval=60.0,
    scrape_wait=0.0,
    request_timeout=5.0,
    page_size=1000,
    max_pages=3,
    tls=Tls(),
    caps=RegistryCaps(max_models=1000, max_versions_per_model=50, max_label_length=128),
    baseline_metrics=("val_auc",),
    training=TrainingQuery(experiments=("train-fraud",), experiment_filter="", lookback=7 * 86400.0),
    windows=(("1d", 86400.0), ("7d", 7 * 86400.0)),
    monitoring=MonitoringQuery(
        experiments=(), experiment_filter="", model_tag="mlobs.model_name", max_runs=100
    ),
    monitoring_keys=MonitoringKeys(
        model_tag=MODEL_TAG,
        version_tag="mlobs.model_version",
        drift_metrics=("psi",),
        quality_metrics=("val_auc",),
        max_series=100,
        max_label_length=128,
    ),
)

# Settings overrides that leave only the registry section (one or two requests per refresh).
REGISTRY_ONLY: dict[str, Any] = {
    "baseline_metrics": (),
    "training": replace(SETTINGS.training, experiments=()),
    "monitoring_keys": replace(SETTINGS.monitoring_keys, drift_metrics=(), quality_metrics=()),
}

# (status, headers, body) for one request, chosen by endpoint; a server body may be chunks, sent chunked.
Answer = tuple[int, dict[str, str], bytes | io.RawIOBase]
ServerAnswer = tuple[int, dict[str, str], bytes | Iterator[bytes]]


def json_answer(document: Any, status: int = 200) -> Answer:
    return status, {"Content-Type": "application/json"}, json.dumps(document).encode()


class CountingBody(io.RawIOBase):
    """A body of `size` bytes made on demand, counting how many the client read."""

    def __init__(self, size: int, fill: bytes = b" ") -> None:
        self.size, self.fill, self.read_bytes = size, fill, 0

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        count = min(len(buffer), self.size - self.read_bytes)
        start = self.read_bytes % len(self.fill)
        buffer[:count] = (self.fill * (2 + count // len(self.fill)))[start : start + count]
        self.read_bytes += count
        return count


@dataclass
class StubSession:
    """Stands in for `requests.Session`: answers from `answers` by endpoint, else the well-formed one."""

    answers: dict[str, Answer] = field(default_factory=dict)
    calls: list[str] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def request(self, method: str, url: str, **_: Any) -> requests.Response:
        endpoint = endpoint_of(url)
        with self._lock:
            self.calls.append(endpoint)
        answer = self.answers.get(endpoint) or json_answer(
            WELL_FORMED.get(endpoint, {"error_code": "ENDPOINT_NOT_FOUND", "message": "no such endpoint"}),
            200 if endpoint in WELL_FORMED else 404,
        )
        response = requests.Response()
        response.url = url
        status, headers, body = answer
        response.status_code = status
        if isinstance(body, bytes):  # a stream has no declared length
            headers = {"Content-Length": str(len(body)), **headers}
            body = io.BytesIO(body)
        response.headers = CaseInsensitiveDict(headers)
        response.raw = body
        return response

    def close(self) -> None:
        pass


def endpoint_of(path: str) -> str:
    return path.split(API_PREFIX, 1)[-1].split("?", 1)[0]


class ManualClock:
    """A monotonic clock that moves only when told: a scrape then never starts a refresh by itself."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def build_collector(
    session: Any,
    tracking_uri: str = SETTINGS.tracking_uri,
    clock: Callable[[], float] | None = None,
    **overrides: Any,
) -> MlflowCollector:
    settings = replace(SETTINGS, tracking_uri=tracking_uri, **overrides)
    return collector_from(settings, session, Credentials(), clock or ManualClock(), lambda: NOW_MS / 1000)


def http_collector(url: str, **overrides: Any) -> MlflowCollector:
    """A collector over a real `requests` session, for a stub server at `url`."""
    return build_collector(requests.Session(), url, **overrides)


def refreshed_page(collector: MlflowCollector) -> str:
    """Run one refresh to its end, then the exposition a scrape would serve (the first refresh is always
    due; later ones when the collector's clock has moved by the refresh interval)."""
    assert collector.refresh.trigger(), "no refresh was due"
    assert collector.refresh.wait_idle(60), "the refresh did not end"
    labels = {"version": "0", "python_version": "3", "node": "n", "gpu_backend": "none"}
    root = IsolatingCollector([collector], labels)
    page = root.render().decode()
    assert root.health()[collector.name]["last_error"] == "", "the collection raised"
    return page


def read_sections(page: str) -> set[str]:
    """Sections with data to serve (the first refresh's failed sections have none)."""
    return {name for name in SECTIONS if value(page, "mlflow_snapshot_age_seconds", section=name) is not None}


def errors(page: str, endpoint: str, kind: str) -> float:
    return value(page, "mlflow_request_errors_total", endpoint=endpoint, kind=kind) or 0.0


class StubServer:
    """A loopback HTTP server answering every request with `handler(path) -> Answer`; `hang` holds
    requests unanswered until the client hangs up or the server stops, and `most_held` counts how many
    it held at once."""

    def __init__(self, handler: Callable[[str], ServerAnswer] | None = None, hang: bool = False) -> None:
        self.handler = handler or (lambda path: json_answer(WELL_FORMED[endpoint_of(path)]))
        self.paths: list[str] = []
        self.sent_bytes = 0
        self.held = self.most_held = 0
        self._lock = threading.Lock()
        self._stop = threading.Event()
        stub = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def _answer(self) -> None:
                self.rfile.read(int(self.headers.get("Content-Length") or 0))
                stub.paths.append(self.path)
                if hang:
                    stub._hold(self.connection)
                    return
                status, headers, body = stub.handler(self.path)
                self.send_response(status)
                if isinstance(body, bytes):
                    headers = {"Content-Length": str(len(body)), **headers}
                else:
                    headers = {"Transfer-Encoding": "chunked", **headers}
                for name, text in headers.items():
                    self.send_header(name, text)
                self.end_headers()
                if isinstance(body, bytes):
                    self.wfile.write(body)
                    return
                with contextlib.suppress(OSError):  # the client hung up: what a capped read does
                    for chunk in body:
                        stub.sent_bytes += len(chunk)
                        self.wfile.write(b"%x\r\n%s\r\n" % (len(chunk), chunk))
                    self.wfile.write(b"0\r\n\r\n")

            do_GET = do_POST = _answer

            def log_message(self, format: str, *args: object) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self.port = self._server.server_address[1]
        self.url = f"http://127.0.0.1:{self.port}"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def _hold(self, connection: socket.socket) -> None:
        with self._lock:
            self.held += 1
            self.most_held = max(self.most_held, self.held)
        try:
            while not self._stop.is_set():
                readable, _, _ = select.select([connection], [], [], 0.05)
                if readable and not connection.recv(1, socket.MSG_PEEK):
                    return  # the client gave up: a timeout closes its connection
                if readable:
                    self._stop.wait(0.05)  # a byte it sent: not a hang-up
        finally:
            with self._lock:
                self.held -= 1

    def __enter__(self) -> StubServer:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._server.shutdown()
        self._server.server_close()


def read_once(collector: MlflowCollector) -> tuple[str, str]:
    """One refresh of a new collector: the page a scrape then serves and the /health detail."""
    try:
        return refreshed_page(collector), collector.health().detail
    finally:
        collector.close()

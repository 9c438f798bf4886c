"""A TF Serving simulator on HTTP: the REST API and metrics page with TF Serving's exact formats.

`python -m exporter.tfserving.simulator --port 8501 --model bert:16,17 --rps 20` serves two versions of
`bert` with synthetic traffic; tests and benchmarks use `TFServingSimulator` directly. Faults for tests:
`delay` (a slow instance), `fault` (one of FAULTS, for the metrics page) and `stop()` (dead).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import re
import signal
import socket
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from exporter.tfserving.simulator_format import HTTP_STATUS, error_body
from exporter.tfserving.simulator_state import SimModel, SimVersion, TFServingState, failed_version

METRICS_PATH = "/monitoring/prometheus/metrics"
FAULTS = ("garbage", "truncated", "stall", "huge", "page_5xx", "status_5xx")
# The REST handler's routes (tensorflow_serving/model_servers/http_rest_api_util.h), case-insensitive.
_GET = re.compile(r"/v1/models(?:/([^/:]+))?(?:/versions/(\d+))?(?:/labels/([^/:]+))?(?:/(metadata))?", re.I)
_POST = re.compile(
    r"/v1/models/([^/:]+)(?:/versions/(\d+)|/labels/([^/:]+))?:(classify|regress|predict)", re.I
)


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    simulator: TFServingSimulator

    def __init__(self, address: tuple[str, int]) -> None:
        super().__init__(address, _Handler)
        self.connections: set[socket.socket] = set()
        self.connections_lock = threading.Lock()

    def process_request(self, request: Any, client_address: Any) -> None:
        with self.connections_lock:
            self.connections.add(request)
        super().process_request(request, client_address)

    def shutdown_request(self, request: Any) -> None:
        with self.connections_lock:
            self.connections.discard(request)
        super().shutdown_request(request)

    def drop_connections(self) -> None:
        """Cut kept-alive connections too: a dead server answers nothing, not even on an open socket."""
        with self.connections_lock:
            connections = list(self.connections)
        for connection in connections:
            with contextlib.suppress(OSError):
                connection.shutdown(socket.SHUT_RDWR)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, as TF Serving's libevent server
    disable_nagle_algorithm = True  # headers and body go out in two writes; Nagle would hold the second 40 ms
    server: _Server

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def _send(self, code: int, body: str | bytes, content_type: str = "application/json") -> None:
        data = body.encode() if isinstance(body, str) else body
        self.send_response(code)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self) -> None:
        sim = self.server.simulator
        if not sim.wait_delay():
            return
        path = self.path.split("?", 1)[0]
        if path == sim.metrics_path and sim.metrics_enabled:
            sim.serve_page(self)
            return
        match = _GET.fullmatch(path)
        if match is None:
            self._send(404, b"", "text/plain")
            return
        model, version, label, metadata = match.groups()
        if sim.fault == "status_5xx":
            self._send(503, error_body("Simulated outage"))
            return
        if not model:
            code, body = 400, error_body("Missing model name in request.")
        elif label:
            code, body = 400, error_body(f"Unrecognized servable version label: {label}")
        elif metadata:
            code, body = sim.state.metadata(model, version)
        else:
            code, body = sim.state.status(model, version)
        if model:
            sim.state.record(model, _tf_code(code), "", "REST", sim.state.poll_latency_us())
        self._send(code, body)

    def do_POST(self) -> None:
        sim = self.server.simulator
        length = int(self.headers.get("Content-Length") or 0)
        request = self.rfile.read(length) if length else b""
        if not sim.wait_delay():
            return
        match = _POST.fullmatch(self.path.split("?", 1)[0])
        if match is None:
            self._send(400, error_body(f"Malformed request: POST {self.path}"))
            return
        model, _, _, api = match.groups()
        status, latency = sim.state.draw(model)
        if status == "OK":
            code, body = _predict(request)
            status = "OK" if code == 200 else "INVALID_ARGUMENT"
        elif status == "NOT_FOUND":
            code, body = 404, error_body(f"Servable not found for request: Latest({model})")
        else:
            code, body = HTTP_STATUS.get(status, 500), error_body(f"Simulated {status}")
        sim.state.record(model, status, api.lower(), "REST", latency)
        self._send(code, body)


def _tf_code(http_status: int) -> str:
    return {200: "OK", 404: "NOT_FOUND", 400: "INVALID_ARGUMENT"}.get(http_status, "INTERNAL")


def _predict(request: bytes) -> tuple[int, str]:
    """half_plus_two: y = x / 2 + 2 for every instance, printed like TF Serving's JSON writer."""
    try:
        instances = json.loads(request)["instances"]
        values = [float(x[0] if isinstance(x, list) else x) for x in instances]
    except (ValueError, KeyError, TypeError, IndexError) as exc:
        return 400, error_body(f"JSON Parse error: {exc}")
    return 200, '{\n    "predictions": [' + ", ".join(repr(v / 2 + 2) for v in values) + "\n    ]\n}"


class TFServingSimulator:
    """One simulated TF Serving REST port on loopback; `url` is its base URL once started."""

    def __init__(
        self,
        state: TFServingState,
        host: str = "127.0.0.1",
        port: int = 0,
        metrics_path: str = METRICS_PATH,
        metrics_enabled: bool = True,
        delay: float = 0.0,
        fault: str | None = None,
        huge_bytes: int = 64 * 1024 * 1024,
    ) -> None:
        if fault is not None and fault not in FAULTS:
            raise ValueError(f"fault must be one of {', '.join(FAULTS)}, got {fault!r}")
        self.state = state
        self.metrics_path = metrics_path
        self.metrics_enabled = metrics_enabled
        self.delay = delay
        self.fault = fault
        self.huge_bytes = huge_bytes
        self.stopping = threading.Event()
        self._server = _Server((host, port))
        self._server.simulator = self
        self.port: int = self._server.server_address[1]
        self.url = f"http://{host}:{self.port}"
        self._thread = threading.Thread(
            target=self._server.serve_forever, args=(0.05,), name=f"tfs-sim-{self.port}", daemon=True
        )

    def start(self) -> TFServingSimulator:
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving and close the port: the instance is dead (connection refused)."""
        self.stopping.set()
        self._server.shutdown()
        self._server.server_close()
        self._server.drop_connections()

    def __enter__(self) -> TFServingSimulator:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def wait_delay(self) -> bool:
        """Hold the answer for `delay` seconds; False when the simulator stops meanwhile."""
        return not (self.delay and self.stopping.wait(self.delay))

    def serve_page(self, handler: _Handler) -> None:
        if self.fault == "page_5xx":
            handler._send(500, b"Internal error generating the page", "text/plain")
            return
        if self.fault == "garbage":
            handler._send(200, b"<html>\x00\xff\xfe not metrics {{{\n" * 64, "text/plain")
            return
        page = self.state.page().encode()
        if self.fault in ("truncated", "stall"):
            # Announce the whole page, send half, then hang up (a crash) or go quiet until stopped (a hang).
            handler.send_response(200)
            handler.send_header("Content-Type", "text/plain")
            handler.send_header("Content-Length", str(len(page)))
            handler.end_headers()
            handler.wfile.write(page[: len(page) // 2])
            handler.wfile.flush()
            if self.fault == "stall":
                self.stopping.wait()
            handler.close_connection = True
            return
        if self.fault == "huge":
            self._stream_huge(handler, page)
            return
        handler._send(200, page, "text/plain")

    def _stream_huge(self, handler: _Handler, page: bytes) -> None:
        """A valid page padded with comments, streamed without Content-Length until the client hangs up."""
        handler.send_response(200)
        handler.send_header("Content-Type", "text/plain")
        handler.send_header("Connection", "close")
        handler.end_headers()
        handler.close_connection = True
        padding = b"# padding padding padding padding padding padding padding padding\n" * 1024
        try:
            handler.wfile.write(page)
            for _ in range(self.huge_bytes // len(padding)):
                handler.wfile.write(padding)
        except OSError:
            pass


def _model_arg(value: str) -> SimModel:
    """`bert` or `bert:16,17` (the newest is served; older ones unloaded, END)."""
    name, _, versions = value.partition(":")
    numbers = sorted(int(v) for v in versions.split(",")) if versions else [1]
    return SimModel(name, [SimVersion(v, state="AVAILABLE" if v == numbers[-1] else "END") for v in numbers])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m exporter.tfserving.simulator", description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8501)
    parser.add_argument("--model", action="append", type=_model_arg, help="NAME[:V1,V2] (repeatable)")
    parser.add_argument(
        "--fail-version",
        action="append",
        default=[],
        metavar="NAME:V",
        help="add a version of NAME that fails to load",
    )
    parser.add_argument("--latency-ms", type=float, default=5.0, help="median request latency")
    parser.add_argument(
        "--error-ratio",
        action="append",
        default=[],
        metavar="STATUS=RATIO",
        help="share of requests answered with a TF status, e.g. INVALID_ARGUMENT=0.02",
    )
    parser.add_argument(
        "--requests", type=int, default=0, help="synthetic requests per model served at start"
    )
    parser.add_argument("--rps", type=float, default=0.0, help="synthetic requests per second per model")
    parser.add_argument("--batching", action="store_true", help="report batch queuing latency")
    parser.add_argument(
        "--delay", type=float, default=0.0, help="seconds to hold every answer (a slow instance)"
    )
    parser.add_argument("--fault", choices=FAULTS, default=None)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    models = args.model or [_model_arg("half_plus_two")]
    by_name = {model.name: model for model in models}
    try:
        ratios = {
            status: float(ratio) for status, _, ratio in (item.partition("=") for item in args.error_ratio)
        }
        for item in args.fail_version:
            name, _, version = item.partition(":")
            by_name[name].versions.append(
                failed_version(int(version), f"{by_name[name].base_path}/{version}")
            )
    except (ValueError, KeyError) as exc:
        parser.error(f"bad --error-ratio or --fail-version: {exc}")
    for model in models:
        model.latency_median_us = args.latency_ms * 1000
        model.error_ratios = ratios
    state = TFServingState(models, seed=args.seed, batching=args.batching)
    for model in models:
        state.simulate(model.name, args.requests)
    sim = TFServingSimulator(state, args.host, args.port, delay=args.delay, fault=args.fault).start()
    print(f"tfserving simulator listening on {sim.url}", flush=True)
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    carry = 0.0
    while not stop.wait(1.0):
        carry += args.rps  # fractional rates accumulate, so 0.5 rps is one request every other second
        count, carry = int(carry), carry % 1
        for model in models:
            state.simulate(model.name, count)
    sim.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())

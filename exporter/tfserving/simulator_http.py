"""The TF Serving simulator's HTTP side: the REST routes, the metrics page and its faults.

`SimServer` keeps its connections so that a stopped simulator can cut kept-alive ones too; `_Handler`
answers as TF Serving's libevent server does, from the `TFServingSimulator` it belongs to.
"""

from __future__ import annotations

import contextlib
import json
import re
import socket
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import TYPE_CHECKING, Any

from exporter.tfserving.simulator_format import HTTP_STATUS, error_body

if TYPE_CHECKING:
    from exporter.tfserving.simulator import TFServingSimulator

# The REST handler's routes (tensorflow_serving/model_servers/http_rest_api_util.h), case-insensitive.
_GET = re.compile(r"/v1/models(?:/([^/:]+))?(?:/versions/(\d+))?(?:/labels/([^/:]+))?(?:/(metadata))?", re.I)
_POST = re.compile(
    r"/v1/models/([^/:]+)(?:/versions/(\d+)|/labels/([^/:]+))?:(classify|regress|predict)", re.I
)


class SimServer(ThreadingHTTPServer):
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
    server: SimServer

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
            self._serve_page(sim)
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

    def _serve_page(self, sim: TFServingSimulator) -> None:
        if sim.fault == "page_5xx":
            self._send(500, b"Internal error generating the page", "text/plain")
            return
        if sim.fault == "garbage":
            self._send(200, b"<html>\x00\xff\xfe not metrics {{{\n" * 64, "text/plain")
            return
        page = sim.state.page().encode()
        if sim.fault in ("truncated", "stall"):
            # Announce the whole page, send half, then hang up (a crash) or go quiet until stopped (a hang).
            self.send_response(200)
            self.send_header("Content-Type", "text/plain")
            self.send_header("Content-Length", str(len(page)))
            self.end_headers()
            self.wfile.write(page[: len(page) // 2])
            self.wfile.flush()
            if sim.fault == "stall":
                sim.stopping.wait()
            self.close_connection = True
            return
        if sim.fault == "huge":
            self._stream_huge(sim, page)
            return
        self._send(200, page, "text/plain")

    def _stream_huge(self, sim: TFServingSimulator, page: bytes) -> None:
        """A valid page padded with comments, streamed without Content-Length until the client hangs up."""
        self.send_response(200)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Connection", "close")
        self.end_headers()
        self.close_connection = True
        padding = b"# padding padding padding padding padding padding padding padding\n" * 1024
        try:
            self.wfile.write(page)
            for _ in range(sim.huge_bytes // len(padding)):
                self.wfile.write(padding)
        except OSError:
            pass


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

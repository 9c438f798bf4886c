"""HTTP front: the metrics page, a landing page and /health, served by a threading WSGI server."""

from __future__ import annotations

import gzip
import json
import threading
from collections.abc import Callable, Iterable
from socketserver import ThreadingMixIn
from typing import Any
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

from exporter import __version__, exposition
from exporter.collectors.base import IsolatingCollector

StartResponse = Callable[..., Any]
Environ = dict[str, Any]


class _ThreadingServer(ThreadingMixIn, WSGIServer):
    # Each scrape gets its own thread, so an HA pair of Prometheus servers never queue behind each other.
    daemon_threads = True
    allow_reuse_address = True


class _QuietHandler(WSGIRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:  # access logs would drown the real ones
        pass


def landing_page(telemetry_path: str, collectors: Iterable[str]) -> bytes:
    items = "".join(f"<li>{name}</li>" for name in collectors)
    return (
        "<!doctype html><html><head><title>mlobs exporter</title></head><body>"
        f"<h1>mlobs exporter {__version__}</h1>"
        f'<p><a href="{telemetry_path}">Metrics</a> &middot; <a href="/health">Health</a></p>'
        f"<p>Enabled collectors:</p><ul>{items}</ul></body></html>"
    ).encode()


def make_app(
    root: IsolatingCollector, telemetry_path: str
) -> Callable[[Environ, StartResponse], list[bytes]]:
    landing = landing_page(telemetry_path, [c.name for c in root.collectors])

    def app(environ: Environ, start_response: StartResponse) -> list[bytes]:
        path = environ.get("PATH_INFO", "/")
        if path == telemetry_path:
            body = root.render()
            headers = [("Content-Type", exposition.CONTENT_TYPE)]
            if "gzip" in environ.get("HTTP_ACCEPT_ENCODING", ""):
                # Level 1: most of the size win for a fraction of the CPU of the default level.
                body = gzip.compress(body, compresslevel=1)
                headers.append(("Content-Encoding", "gzip"))
            start_response("200 OK", headers)
            return [body]
        if path == "/health":
            report = root.health()
            healthy = all(bool(entry["ok"]) for entry in report.values())
            body = json.dumps({"status": "ok" if healthy else "unhealthy", "collectors": report}).encode()
            status = "200 OK" if healthy else "503 Service Unavailable"
            start_response(status, [("Content-Type", "application/json")])
            return [body]
        if path == "/":
            start_response("200 OK", [("Content-Type", "text/html; charset=utf-8")])
            return [landing]
        start_response("404 Not Found", [("Content-Type", "text/plain")])
        return [b"404 page not found\n"]

    return app


class MetricsServer:
    """The exporter's HTTP server on its own thread; `port` is the bound port (useful with port 0)."""

    def __init__(self, host: str, port: int, app: Callable[[Environ, StartResponse], list[bytes]]) -> None:
        self._server = make_server(
            host, port, app, server_class=_ThreadingServer, handler_class=_QuietHandler
        )
        self.port: int = self._server.server_port
        self._thread = threading.Thread(target=self._server.serve_forever, name="http", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)

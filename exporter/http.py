"""HTTP routes: the metrics page, a landing page and /health (served by `exporter.http_server`)."""

from __future__ import annotations

import gzip
import json
from collections.abc import Iterable

from exporter import __version__, exposition
from exporter.collector import IsolatingCollector
from exporter.http_server import App
from exporter.http_wire import Request, Response


def landing_page(telemetry_path: str, collectors: Iterable[str]) -> bytes:
    items = "".join(f"<li>{name}</li>" for name in collectors)
    return (
        "<!doctype html><html><head><title>mlobs exporter</title></head><body>"
        f"<h1>mlobs exporter {__version__}</h1>"
        f'<p><a href="{telemetry_path}">Metrics</a> &middot; <a href="/health">Health</a></p>'
        f"<p>Enabled collectors:</p><ul>{items}</ul></body></html>"
    ).encode()


def _qvalue(params: list[str]) -> float:
    for param in params:
        name, _, value = param.partition("=")
        if name.strip().lower() == "q":
            try:
                q = float(value.strip())
            except ValueError:
                return 0.0
            return q if 0.0 <= q <= 1.0 else 0.0
    return 1.0


def accepts_gzip(accept_encoding: str) -> bool:
    """Whether gzip wins the negotiation of an Accept-Encoding header (RFC 9110 12.5.3).

    Codings are case-insensitive; `*` stands for any coding not named; identity stays acceptable unless
    refused, and gzip is chosen unless identity is explicitly preferred over it."""
    weights: dict[str, float] = {}
    for item in accept_encoding.split(","):
        coding, *params = item.split(";")
        coding = coding.strip().lower()
        if coding:
            weights[coding] = _qvalue(params)
    gzip_q = weights.get("gzip", weights.get("x-gzip", weights.get("*", 0.0)))
    return gzip_q > 0 and gzip_q >= weights.get("identity", 0.0)


def make_app(root: IsolatingCollector, telemetry_path: str) -> App:
    """Route GET and HEAD requests (the server refuses other methods) to the pages."""
    landing = landing_page(telemetry_path, [c.name for c in root.collectors])

    def app(request: Request) -> Response:
        if request.path == telemetry_path:
            body = root.render()
            headers = [("Content-Type", exposition.CONTENT_TYPE), ("Vary", "Accept-Encoding")]
            if accepts_gzip(request.headers.get("accept-encoding", "")):
                # Level 1: most of the size win for a fraction of the CPU of the default level.
                body = gzip.compress(body, compresslevel=1)
                headers.append(("Content-Encoding", "gzip"))
            return Response(200, tuple(headers), body)
        if request.path == "/health":
            report = root.health()
            healthy = all(bool(entry["ok"]) for entry in report.values())
            body = json.dumps({"status": "ok" if healthy else "unhealthy", "collectors": report}).encode()
            return Response(200 if healthy else 503, (("Content-Type", "application/json"),), body)
        if request.path == "/":
            return Response(200, (("Content-Type", "text/html; charset=utf-8"),), landing)
        return Response(404, (("Content-Type", "text/plain"),), b"404 page not found\n")

    return app

"""The HTTP server: one reader thread takes connections and reads request heads; a fixed pool answers.

Why not a thread per connection: a burst of scrapes or a thousand idle, half-sent connections would each
pin a thread and its memory for as long as the client liked. Here a connection costs a socket and a buffer
in the reader (`exporter.http_reader`) until its head is complete (at most `header_timeout`); only then does
it reach a worker. At most `max_requests` requests run at once, `queue_size` more wait for a worker, and
beyond that the answer is 503 at once, as node_exporter's `--web.max-requests` does.
"""

from __future__ import annotations

import logging
import queue
import socket
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass

from exporter.catalogue import core
from exporter.catalogue.families import FamilySet
from exporter.http_reader import HeadReader, TlsContext, WorkQueue, end_output
from exporter.http_wire import HttpError, Request, Response, encode, error_response
from exporter.textsafe import safe_message

log = logging.getLogger("exporter.http")

App = Callable[[Request], Response]

__all__ = ["App", "HttpServer", "ServerLimits", "TlsContext", "listen"]


@dataclass(frozen=True)
class ServerLimits:
    max_requests: int = 40  # worker threads: requests answered at once
    queue_size: int = 1024  # complete requests waiting for a worker; beyond this, 503
    max_connections: int = 4096  # connections still sending their head; beyond this the oldest is dropped
    header_timeout: float = 10.0  # seconds from accept to a complete head, then 408
    queue_timeout: float = 30.0  # a request that waited longer for a worker gets 503: its scraper gave up
    write_timeout: float = 30.0  # seconds to send one response
    linger: float = 2.0  # after answering, unread input is drained this long so the client sees the answer
    backlog: int = 1024  # a burst of connections waits in the kernel, not refused


def listen(host: str, port: int, backlog: int = ServerLimits.backlog) -> socket.socket:
    """A listening socket on an IPv4 or IPv6 address or a host name; OSError (with strerror) if not."""
    family, kind, proto, _, address = socket.getaddrinfo(
        host or None, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
    )[0]
    sock = socket.socket(family, kind, proto)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        if family == socket.AF_INET6 and address[0] == "::":
            sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)  # [::] takes IPv4 too, as in Go
        sock.bind(address)
        sock.listen(backlog)
    except OSError:
        sock.close()
        raise
    return sock


# Everything `stats` counts, so that each is served from the start, at 0.
EVENTS = (
    "accepted",
    "queued",
    "answered",
    "refused_400",
    "refused_503",
    "timed_out",
    "dropped_oldest",
    "tls_failed",
    "write_failed",
    "failed_500",
)


class HttpServer:
    """Serves `app` on an already listening socket; `stats` counts what happened to connections."""

    def __init__(
        self,
        listener: socket.socket,
        app: App,
        limits: ServerLimits | None = None,
        clock: Callable[[], float] = time.monotonic,
        tls_context: TlsContext | None = None,
    ) -> None:
        self.limits = limits or ServerLimits()
        self.port: int = listener.getsockname()[1]
        self.stats: Counter[str] = Counter()
        self._app, self._clock = app, clock
        self._lock = threading.Lock()
        self._work: WorkQueue = queue.Queue(self.limits.queue_size)
        self._reader = HeadReader(listener, self._work, self.limits, clock, self._count, tls_context)
        self._threads = [threading.Thread(target=self._reader.run, name="http-reader", daemon=True)]
        self._threads += [
            threading.Thread(target=self._work_loop, name=f"http-worker-{i}", daemon=True)
            for i in range(self.limits.max_requests)
        ]

    def start(self) -> None:
        for thread in self._threads:
            thread.start()

    def stop(self) -> None:
        self._reader.stop()
        self._threads[0].join(timeout=5)
        while True:  # requests nobody will answer now
            try:
                item = self._work.get_nowait()
            except queue.Empty:
                break
            if item is not None:
                item[0].close()
        for _ in self._threads[1:]:
            self._work.put(None)
        for thread in self._threads[1:]:
            thread.join(timeout=5)
        self._reader.close()

    def _count(self, what: str) -> None:
        with self._lock:
            self.stats[what] += 1

    def add_events(self, out: FamilySet) -> None:
        """`mlobs_http_events_total`: every event of EVENTS, 0 until it happens."""
        with self._lock:
            counts = dict(self.stats)
        for event in EVENTS:
            out.add(core.HTTP_EVENTS, counts.get(event, 0), event=event)

    # The workers: answer complete requests, then hand the connection back to the reader to close.

    def _work_loop(self) -> None:
        while True:
            item = self._work.get()
            if item is None:
                return
            self._serve(*item)
            # Nothing of the last request may stay alive while this worker waits: with 40 workers, 40 idle
            # references to the last page each would grow RSS by 40 pages.
            del item

    def _serve(self, sock: socket.socket, request: Request, queued_at: float) -> None:
        response = self._respond(request, queued_at)
        try:
            sock.settimeout(self.limits.write_timeout)
            sock.sendall(encode(response, head_only=request.method == "HEAD"))
            end_output(sock)
            sock.setblocking(False)
        except OSError:
            self._count("write_failed")
            sock.close()
            return
        self._count("answered")
        self._reader.hand_back(sock)

    def _respond(self, request: Request, queued_at: float) -> Response:
        if self._clock() - queued_at > self.limits.queue_timeout:
            self._count("refused_503")
            return error_response(HttpError(503, "waited too long for a worker"))
        try:
            return self._app(request)
        except Exception as exc:  # a bug in a route must still answer, and must not kill the worker
            self._count("failed_500")
            log.error("request %s failed: %s", request.path[:100], safe_message(exc))
            return error_response(HttpError(500, "internal error"))

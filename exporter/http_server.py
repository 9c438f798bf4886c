"""The HTTP server: one reader thread takes connections and reads request heads; a fixed pool answers.

Why not a thread per connection: a burst of scrapes or a thousand idle, half-sent connections would each
pin a thread and its memory for as long as the client liked. Here a connection costs a socket and a buffer
in the reader until its head is complete (at most `header_timeout`); only then does it reach a worker. At
most `max_requests` requests run at once, `queue_size` more wait for a worker, and beyond that the answer is
503 at once, as node_exporter's `--web.max-requests` does.

With `tls_context` (from `--web.config.file`), each connection is TLS-wrapped with the context current when
its first byte arrives, and the reader drives the handshake without blocking: a slow handshake is held to
the same head timeout, and plain HTTP on the TLS port gets Go's 400 answer.
"""

from __future__ import annotations

import contextlib
import errno
import logging
import queue
import selectors
import socket
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from exporter.http_wire import (
    HttpError,
    Request,
    Response,
    check_incomplete,
    encode,
    error_response,
    head_end,
    parse_head,
)
from exporter.textsafe import safe_message
from exporter.webconfig_tls import (
    PLAIN_HTTP_ANSWER,
    advance_handshake,
    is_tls,
    looks_like_tls,
    start_handshake,
    would_block,
)

if TYPE_CHECKING:  # ssl loads only with TLS on (webconfig_tls)
    import ssl

log = logging.getLogger("exporter.http")

App = Callable[[Request], Response]
TlsContext = Callable[[], "ssl.SSLContext | None"]
ALLOWED_METHODS = ("GET", "HEAD")
_OUT_OF_DESCRIPTORS = (errno.EMFILE, errno.ENFILE, errno.ENOBUFS, errno.ENOMEM)


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


class _Conn:
    __slots__ = ("buffer", "deadline", "draining", "handshaking", "sock")

    def __init__(self, sock: socket.socket, deadline: float, handshaking: bool = False) -> None:
        self.sock = sock
        self.buffer = bytearray()
        self.deadline = deadline
        self.draining = False
        self.handshaking = handshaking  # TLS: not wrapped yet (plain socket) or wrapped, handshake running


def _end_output(sock: socket.socket) -> None:
    """Half-close after the answer; over TLS a close_notify first, so the client sees a clean end."""
    if is_tls(sock):
        sock.setblocking(False)
        with contextlib.suppress(OSError):  # sent; waiting for the client's close_notify is not our job
            sock.unwrap()
    sock.shutdown(socket.SHUT_WR)


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
        self._tls_context = tls_context
        self.port: int = listener.getsockname()[1]
        self.stats: Counter[str] = Counter()
        self._listener, self._app, self._clock = listener, app, clock
        self._listener.setblocking(False)
        self._selector = selectors.DefaultSelector()
        self._wake_r, self._wake_w = socket.socketpair()
        self._wake_r.setblocking(False)
        self._wake_w.setblocking(False)
        self._work: queue.Queue[tuple[socket.socket, Request, float] | None] = queue.Queue(
            self.limits.queue_size
        )
        self._handback: queue.SimpleQueue[socket.socket] = queue.SimpleQueue()
        self._reading: dict[int, _Conn] = {}  # by fd, oldest first: deadlines come in accept order
        self._draining: dict[int, _Conn] = {}
        self._accept_paused_until: float | None = None
        self._stopping = False
        self._lock = threading.Lock()
        self._threads = [threading.Thread(target=self._read_loop, name="http-reader", daemon=True)]
        self._threads += [
            threading.Thread(target=self._work_loop, name=f"http-worker-{i}", daemon=True)
            for i in range(self.limits.max_requests)
        ]

    def start(self) -> None:
        self._selector.register(self._listener, selectors.EVENT_READ)
        self._selector.register(self._wake_r, selectors.EVENT_READ)
        for thread in self._threads:
            thread.start()

    def stop(self) -> None:
        self._stopping = True
        self._wake()
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
        while not self._handback.empty():
            self._handback.get().close()
        self._selector.close()
        self._listener.close()
        self._wake_r.close()
        self._wake_w.close()

    def _count(self, what: str) -> None:
        with self._lock:
            self.stats[what] += 1

    def _wake(self) -> None:
        with contextlib.suppress(OSError):  # full (the reader will wake anyway) or already closed
            self._wake_w.send(b"\0")

    # The reader thread: accepts, reads heads, expires the slow, drains answered connections.

    def _read_loop(self) -> None:
        while not self._stopping:
            for key, _ in self._selector.select(self._next_timeout()):
                if key.fileobj is self._listener:
                    self._accept()
                elif key.fileobj is self._wake_r:
                    self._take_handbacks()
                elif key.data.handshaking:
                    self._handshake(key.data)
                else:
                    self._read(key.data)
            self._expire(self._clock())
        for conn in [*self._reading.values(), *self._draining.values()]:
            self._close(conn)

    def _next_timeout(self) -> float | None:
        deadlines = [next(iter(d.values())).deadline for d in (self._reading, self._draining) if d]
        if self._accept_paused_until is not None:
            deadlines.append(self._accept_paused_until)
        return max(0.0, min(deadlines) - self._clock()) if deadlines else None

    def _accept(self) -> None:
        for _ in range(64):  # then let reads and expiry run
            try:
                sock, _ = self._listener.accept()
            except BlockingIOError:
                return
            except OSError as exc:
                if exc.errno in _OUT_OF_DESCRIPTORS and not self._drop_oldest():
                    self._selector.unregister(self._listener)  # retried after a pause, not in a hot loop
                    self._accept_paused_until = self._clock() + 0.1
                    return
                continue  # the client gave up before we took it (ECONNABORTED)
            self._count("accepted")
            if len(self._reading) >= self.limits.max_connections:
                self._drop_oldest()
            sock.setblocking(False)
            conn = _Conn(sock, self._clock() + self.limits.header_timeout, self._tls_context is not None)
            self._reading[sock.fileno()] = conn
            self._selector.register(sock, selectors.EVENT_READ, conn)

    def _drop_oldest(self) -> bool:
        for table in (self._draining, self._reading):
            if table:
                self._close(next(iter(table.values())))
                self._count("dropped_oldest")
                return True
        return False

    def _handshake(self, conn: _Conn) -> None:
        try:
            if not is_tls(conn.sock):
                tls = looks_like_tls(conn.sock)
                if not tls:
                    self._not_tls(conn, tls)
                    return
                if not self._wrap(conn):
                    return
            assert is_tls(conn.sock)
            wait = advance_handshake(conn.sock)
        except BlockingIOError:
            return
        except OSError as exc:  # ssl.SSLError too: no or an untrusted client certificate, a port scanner
            self._count("tls_failed")
            log.debug("TLS handshake failed: %s", safe_message(exc))
            self._close(conn)
            return
        if wait:
            self._selector.modify(conn.sock, wait, conn)
            return
        conn.handshaking = False
        self._selector.modify(conn.sock, selectors.EVENT_READ, conn)
        self._read(conn)  # the request may have come with the client's last handshake flight

    def _not_tls(self, conn: _Conn, tls: bool | None) -> None:
        if tls is None:  # closed before saying anything
            self._close(conn)
            return
        self._count("refused_400")
        conn.handshaking = False
        self._send_and_linger(conn, PLAIN_HTTP_ANSWER)

    def _wrap(self, conn: _Conn) -> bool:
        assert self._tls_context is not None
        try:
            context = self._tls_context()
        except ValueError as exc:  # WebConfigError: the web config turned unusable after start-up
            log.error("web config unusable, refusing the TLS connection: %s", safe_message(exc))
            self._close(conn)
            return False
        if context is None:  # no tls_server_config: plain HTTP
            conn.handshaking = False
            self._read(conn)
            return False
        self._selector.unregister(conn.sock)
        conn.sock = start_handshake(conn.sock, context)  # same descriptor: the tables stay right
        self._selector.register(conn.sock, selectors.EVENT_READ, conn)
        return True

    def _read(self, conn: _Conn) -> None:
        try:
            chunk = conn.sock.recv(16384)
        except OSError as exc:
            if would_block(exc):
                return
            chunk = b""
        if not chunk or conn.draining:
            if not chunk:
                self._close(conn)
            return
        start = len(conn.buffer)
        conn.buffer += chunk
        end = head_end(conn.buffer, start)
        try:
            if end < 0:
                check_incomplete(conn.buffer)
                if is_tls(conn.sock) and conn.sock.pending():
                    self._read(conn)  # decrypted bytes the selector cannot see; bounded by MAX_HEAD
                return
            request = parse_head(bytes(conn.buffer[:end]))
            if request.method not in ALLOWED_METHODS:
                raise HttpError(405, f"method {request.method} not allowed", (("Allow", "GET, HEAD"),))
        except HttpError as exc:
            self._count(f"refused_{exc.status}")
            self._answer_now(conn, error_response(exc))
            return
        self._dispatch(conn, request)

    def _dispatch(self, conn: _Conn, request: Request) -> None:
        if self._work.full():  # only this thread adds work, so the queue cannot fill up before the put
            self._count("refused_503")
            self._answer_now(conn, error_response(HttpError(503, "too many requests in flight")))
            return
        # Out of the reader's hands before a worker has it: the worker may close it at any moment.
        del self._reading[conn.sock.fileno()]
        self._selector.unregister(conn.sock)
        self._work.put_nowait((conn.sock, request, self._clock()))
        self._count("queued")

    def _answer_now(self, conn: _Conn, response: Response) -> None:
        self._send_and_linger(conn, encode(response))

    def _send_and_linger(self, conn: _Conn, data: bytes) -> None:
        """Answer from the reader thread: a small error page always fits a fresh socket's send buffer."""
        try:
            conn.sock.send(data)
            _end_output(conn.sock)
        except OSError:
            self._close(conn)
            return
        del self._reading[conn.sock.fileno()]
        self._linger(conn)

    def _linger(self, conn: _Conn) -> None:
        # Closing with unread input would reset the connection and could destroy the answer in flight.
        conn.draining, conn.deadline = True, self._clock() + self.limits.linger
        self._draining[conn.sock.fileno()] = conn
        if len(self._draining) > self.limits.max_connections:
            self._close(next(iter(self._draining.values())))

    def _take_handbacks(self) -> None:
        try:
            while self._wake_r.recv(4096):
                pass
        except OSError:
            pass
        while not self._handback.empty():
            sock = self._handback.get()
            conn = _Conn(sock, 0.0)
            self._selector.register(sock, selectors.EVENT_READ, conn)
            self._linger(conn)

    def _expire(self, now: float) -> None:
        while self._reading:
            conn = next(iter(self._reading.values()))
            if conn.deadline > now:
                break
            self._count("timed_out")
            if conn.buffer:  # a half-sent head hears why; an idle connection is just closed
                self._answer_now(conn, error_response(HttpError(408, "request head not complete in time")))
            else:
                self._close(conn)
        while self._draining and next(iter(self._draining.values())).deadline <= now:
            self._close(next(iter(self._draining.values())))
        if self._accept_paused_until is not None and self._accept_paused_until <= now:
            self._accept_paused_until = None
            self._selector.register(self._listener, selectors.EVENT_READ)

    def _close(self, conn: _Conn) -> None:
        fd = conn.sock.fileno()
        self._reading.pop(fd, None)
        self._draining.pop(fd, None)
        with contextlib.suppress(KeyError, ValueError):
            self._selector.unregister(conn.sock)
        conn.sock.close()

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
            _end_output(sock)
            sock.setblocking(False)
        except OSError:
            self._count("write_failed")
            sock.close()
            return
        self._count("answered")
        self._handback.put(sock)
        self._wake()

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

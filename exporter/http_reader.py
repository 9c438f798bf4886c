"""The HTTP server's reader thread: accepts, reads request heads, queues them for workers, expires the slow.

A complete head goes on the work queue of `exporter.http_server`'s workers (503 here if it is full); they hand
answered connections back to be drained for `linger` seconds and closed. With `tls_context` each connection is
wrapped with the context current at its first byte and the handshake runs without blocking, held to the same
head timeout; plain HTTP on the TLS port gets Go's 400 answer.
"""

from __future__ import annotations

import contextlib
import errno
import logging
import queue
import selectors
import socket
from collections.abc import Callable
from typing import TYPE_CHECKING

from exporter.http_wire import HttpError, Request, Response, encode, error_response, read_request
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

    from exporter.http_server import ServerLimits

log = logging.getLogger("exporter.http")

TlsContext = Callable[[], "ssl.SSLContext | None"]
WorkQueue = queue.Queue[tuple[socket.socket, Request, float] | None]
_OUT_OF_DESCRIPTORS = (errno.EMFILE, errno.ENFILE, errno.ENOBUFS, errno.ENOMEM)


class _Conn:
    __slots__ = ("buffer", "deadline", "draining", "handshaking", "sock")

    def __init__(self, sock: socket.socket, deadline: float, handshaking: bool = False) -> None:
        self.sock = sock
        self.buffer = bytearray()
        self.deadline = deadline
        self.draining = False
        self.handshaking = handshaking  # TLS: not wrapped yet (plain socket) or wrapped, handshake running


def end_output(sock: socket.socket) -> None:
    """Half-close after the answer; over TLS a close_notify first, so the client sees a clean end."""
    if is_tls(sock):
        sock.setblocking(False)
        with contextlib.suppress(OSError):  # sent; waiting for the client's close_notify is not our job
            sock.unwrap()
    sock.shutdown(socket.SHUT_WR)


class HeadReader:
    """Run `run` on one thread; complete requests go to `work` as (socket, request, queued at)."""

    def __init__(
        self,
        listener: socket.socket,
        work: WorkQueue,
        limits: ServerLimits,
        clock: Callable[[], float],
        count: Callable[[str], None],
        tls_context: TlsContext | None = None,
    ) -> None:
        self.limits = limits
        self._listener, self._work, self._clock, self._count = listener, work, clock, count
        self._tls_context = tls_context
        self._listener.setblocking(False)
        self._selector = selectors.DefaultSelector()
        self._wake_r, self._wake_w = socket.socketpair()
        self._wake_r.setblocking(False)
        self._wake_w.setblocking(False)
        self._handback: queue.SimpleQueue[socket.socket] = queue.SimpleQueue()
        self._reading: dict[int, _Conn] = {}  # by fd, oldest first: deadlines come in accept order
        self._draining: dict[int, _Conn] = {}
        self._accept_paused_until: float | None = None
        self._stopping = False
        self._selector.register(self._listener, selectors.EVENT_READ)
        self._selector.register(self._wake_r, selectors.EVENT_READ)

    def hand_back(self, sock: socket.socket) -> None:
        """Take back a connection a worker has answered, to drain and close it."""
        self._handback.put(sock)
        self._wake()

    def stop(self) -> None:
        """Make `run` return after closing the connections it holds."""
        self._stopping = True
        self._wake()

    def close(self) -> None:
        """Release the sockets once `run` has returned and no worker hands anything back."""
        while not self._handback.empty():
            self._handback.get().close()
        self._selector.close()
        self._listener.close()
        self._wake_r.close()
        self._wake_w.close()

    def _wake(self) -> None:
        with contextlib.suppress(OSError):  # full (the reader will wake anyway) or already closed
            self._wake_w.send(b"\0")

    def run(self) -> None:
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
        try:
            request = read_request(conn.buffer, start)
        except HttpError as exc:
            self._count(f"refused_{exc.status}")
            self._answer_now(conn, error_response(exc))
            return
        if request is not None:
            self._dispatch(conn, request)
        elif is_tls(conn.sock) and conn.sock.pending():
            self._read(conn)  # decrypted bytes the selector cannot see; bounded by MAX_HEAD

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
            end_output(conn.sock)
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

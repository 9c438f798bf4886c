"""The HTTP server's limits, with small values: timeouts, the request cap, the connection cap, listening."""

from __future__ import annotations

import contextlib
import gc
import socket
import threading
import time
import weakref
from collections.abc import Callable, Iterator

import pytest

from exporter.http import accepts_gzip
from exporter.http_server import HttpServer, ServerLimits, listen
from exporter.http_wire import Request, Response
from tests.http_raw import exchange, get, read_all, split_response

OK = Response(200, (("Content-Type", "text/plain"),), b"ok\n")


class GatedApp:
    """Answers `ok`; while `gate` is closed, requests wait in the app (the worker stays busy)."""

    def __init__(self) -> None:
        self.gate = threading.Event()
        self.gate.set()
        self.entered = threading.Semaphore(0)

    def __call__(self, request: Request) -> Response:
        if request.path == "/boom":
            raise RuntimeError("a route with a bug")
        self.entered.release()
        self.gate.wait(30)
        return OK


@contextlib.contextmanager
def serving(
    app: GatedApp, host: str = "127.0.0.1", clock: Callable[[], float] = time.monotonic, **limits: float
) -> Iterator[HttpServer]:
    server = HttpServer(listen(host, 0), app, ServerLimits(**limits), clock)  # type: ignore[arg-type]
    server.start()
    try:
        yield server
    finally:
        app.gate.set()
        server.stop()


def _await(condition: Callable[[], bool], timeout: float = 10) -> None:
    deadline = time.monotonic() + timeout
    while not condition() and time.monotonic() < deadline:
        time.sleep(0.005)
    assert condition(), "condition not reached"


def test_a_half_sent_head_gets_408_after_the_header_timeout_and_an_idle_connection_is_closed() -> None:
    now = [1000.0]
    with serving(GatedApp(), clock=lambda: now[0], header_timeout=10) as server:
        with (
            socket.create_connection(("127.0.0.1", server.port), timeout=10) as half,
            socket.create_connection(("127.0.0.1", server.port), timeout=10) as idle,
        ):
            half.sendall(b"GET / HTTP/1.1\r\nHost: x")
            _await(lambda: server.stats["accepted"] == 2)
            # Answered after both were taken: the one reader thread has read the half-sent head by now.
            assert split_response(exchange(server.port, get("/")))[0] == "HTTP/1.1 200 OK"
            now[0] += 9.9
            exchange(server.port, get("/"))  # any event wakes the reader, which then expires the late
            assert server.stats["timed_out"] == 0
            now[0] += 0.5
            exchange(server.port, get("/"))
            assert split_response(read_all(half))[0] == "HTTP/1.1 408 Request Timeout"
            assert read_all(idle) == b""
        assert server.stats["timed_out"] == 2


def test_beyond_the_running_and_queued_requests_the_answer_is_503_at_once() -> None:
    app = GatedApp()
    app.gate.clear()
    with serving(app, max_requests=1, queue_size=1) as server:
        running = socket.create_connection(("127.0.0.1", server.port), timeout=10)
        running.sendall(get("/"))
        assert app.entered.acquire(timeout=10)
        queued = socket.create_connection(("127.0.0.1", server.port), timeout=10)
        queued.sendall(get("/"))
        _await(lambda: server.stats["queued"] == 2)
        # Answered while the only worker is still held: the request never waited for one.
        assert split_response(exchange(server.port, get("/")))[0] == "HTTP/1.1 503 Service Unavailable"
        assert server.stats["refused_503"] == 1 and not app.gate.is_set()
        app.gate.set()
        for sock in (running, queued):
            with sock:
                assert split_response(read_all(sock))[0] == "HTTP/1.1 200 OK"


def test_a_request_that_waited_longer_than_the_queue_timeout_is_503_without_running() -> None:
    app = GatedApp()
    app.gate.clear()
    now = [1000.0]
    with serving(app, clock=lambda: now[0], max_requests=1, queue_timeout=30) as server:
        running = socket.create_connection(("127.0.0.1", server.port), timeout=10)
        running.sendall(get("/"))
        assert app.entered.acquire(timeout=10)
        stale = socket.create_connection(("127.0.0.1", server.port), timeout=10)
        stale.sendall(get("/"))
        _await(lambda: server.stats["queued"] == 2)
        now[0] += 31
        app.gate.set()
        with running, stale:
            assert split_response(read_all(running))[0] == "HTTP/1.1 200 OK"
            assert split_response(read_all(stale))[0] == "HTTP/1.1 503 Service Unavailable"
        assert not app.entered.acquire(timeout=0)  # the stale request never reached the app


def test_over_the_connection_cap_the_oldest_unfinished_connection_is_dropped() -> None:
    with serving(GatedApp(), max_connections=3) as server:
        oldest, *others = [socket.create_connection(("127.0.0.1", server.port), timeout=10) for _ in range(3)]
        _await(lambda: server.stats["accepted"] == 3)
        assert split_response(exchange(server.port, get("/")))[0] == "HTTP/1.1 200 OK"
        assert read_all(oldest) == b""  # closed to make room
        for sock in (oldest, *others):
            sock.close()


def test_a_route_that_raises_gets_500_and_the_worker_lives_on() -> None:
    with serving(GatedApp(), max_requests=1) as server:
        assert split_response(exchange(server.port, get("/boom")))[0] == "HTTP/1.1 500 Internal Server Error"
        assert split_response(exchange(server.port, get("/")))[0] == "HTTP/1.1 200 OK"


def test_a_request_body_still_sent_does_not_reset_the_answer() -> None:
    with (
        serving(GatedApp()) as server,
        socket.create_connection(("127.0.0.1", server.port), timeout=10) as sock,
    ):
        sock.sendall(get("/", "Content-Length: 4000000"))
        sender = threading.Thread(target=lambda: _send_quietly(sock, b"x" * 4_000_000))
        sender.start()
        assert split_response(read_all(sock))[0] == "HTTP/1.1 200 OK"
        sender.join(timeout=10)


def _send_quietly(sock: socket.socket, data: bytes) -> None:
    with contextlib.suppress(OSError):  # the server stops reading after its linger time
        sock.sendall(data)


@pytest.mark.parametrize(
    ("listen_host", "connect_host"), [("::1", "::1"), ("::", "::1"), ("::", "127.0.0.1")]
)
def test_listens_on_ipv6_and_dual_stack(listen_host: str, connect_host: str) -> None:
    with serving(GatedApp(), host=listen_host) as server:
        assert split_response(exchange(server.port, get("/"), host=connect_host))[0] == "HTTP/1.1 200 OK"


def test_listen_errors_carry_a_readable_reason() -> None:
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        with pytest.raises(OSError) as busy:
            listen("127.0.0.1", holder.getsockname()[1])
    assert busy.value.strerror == "Address already in use"
    with pytest.raises(OSError) as unknown:
        listen("no-such-host.invalid", 0)
    assert unknown.value.strerror


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        ("gzip", True),
        ("x-gzip", True),
        ("Gzip ; Q=1", True),
        ("gzip;q=0.001", True),
        ("identity;q=0.5, gzip", True),
        ("gzip;q=0", False),
        ("gzip;q=bogus", False),
        ("gzip;q=2", False),
        ("gzipx", False),
        ("identity, *;q=0", False),
        ("*;q=0.5, gzip;q=0", False),
    ],
)
def test_accept_encoding_negotiation(header: str, expected: bool) -> None:
    assert accepts_gzip(header) is expected


def test_an_idle_worker_keeps_nothing_of_its_last_request_alive() -> None:
    seen: list[weakref.ref[object]] = []

    def app(request: Request) -> Response:
        response = Response(200, (), b"x" * 100_000)
        seen.extend((weakref.ref(request), weakref.ref(response)))
        return response

    server = HttpServer(listen("127.0.0.1", 0), app, ServerLimits(max_requests=2))
    server.start()
    try:
        for _ in range(4):
            assert split_response(exchange(server.port, get("/")))[0] == "HTTP/1.1 200 OK"

        def all_freed() -> bool:  # else 40 idle workers pin 40 pages: RSS grows with load, then stays
            gc.collect()
            return len(seen) == 8 and all(ref() is None for ref in seen)

        _await(all_freed, timeout=5)
    finally:
        server.stop()

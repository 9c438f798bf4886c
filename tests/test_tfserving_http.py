"""The pooled HTTP client under TF Serving reads: kept-alive connections, bounded reads, failures named.

A scripted loopback peer answers byte for byte, so the edges the simulator never produces (a chunked body
cut off, a kept-alive connection closed by the server, a slow drip) are real TCP and TLS, not mocks.
"""

from __future__ import annotations

import contextlib
import socket
import ssl
import subprocess
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from exporter.tfserving.http import FetchError, HTTPPool


@dataclass(frozen=True)
class Reply:
    """What the peer sends for one request, then `then`: keep (the connection), close, hang or drip."""

    data: bytes = b""
    then: str = "keep"


def ok(body: bytes = b"{}", headers: str = "") -> Reply:
    head = f"HTTP/1.1 200 OK\r\nContent-Length: {len(body)}\r\n{headers}\r\n"
    return Reply(head.encode() + body)


PeerFactory = Callable[..., "ScriptedPeer"]
CHUNKED_HEAD = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"


class ScriptedPeer:
    """A loopback HTTP/1.1 server answering each request with the next scripted reply."""

    def __init__(self, replies: list[Reply], tls: ssl.SSLContext | None = None) -> None:
        self.replies = list(replies)
        self.accepted = 0
        self.paths: list[str] = []
        self._connections: list[socket.socket] = []
        self._tls = tls
        self._stop = threading.Event()
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.url = f"{'https' if tls else 'http'}://127.0.0.1:{self._listener.getsockname()[1]}"
        self._threads = [threading.Thread(target=self._accept, daemon=True)]
        self._threads[0].start()

    def _accept(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = self._listener.accept()
            except OSError:
                return
            self.accepted += 1
            self._connections.append(conn)
            thread = threading.Thread(target=self._serve, args=(conn,), daemon=True)
            self._threads.append(thread)
            thread.start()

    def _serve(self, conn: socket.socket) -> None:
        try:
            if self._tls is not None:
                conn = self._tls.wrap_socket(conn, server_side=True)
            buffer = b""
            while self.replies:
                while b"\r\n\r\n" not in buffer:
                    data = conn.recv(4096)
                    if not data:
                        return
                    buffer += data
                head, buffer = buffer.split(b"\r\n\r\n", 1)
                self.paths.append(head.split(b" ")[1].decode())
                reply = self.replies.pop(0)
                conn.sendall(reply.data)
                if reply.then == "close":
                    return
                if reply.then == "hang":
                    self._stop.wait()
                    return
                while reply.then == "drip" and not self._stop.wait(0.05):
                    conn.sendall(b"1\r\nx\r\n")
        except OSError:
            pass
        finally:
            conn.close()

    def stop(self) -> None:
        self._stop.set()
        # Shutting down wakes the threads blocked in accept() or waiting for a kept-alive next request.
        for sock in [self._listener, *self._connections]:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
        self._listener.close()
        for thread in self._threads:
            thread.join(timeout=5)


@pytest.fixture
def peer() -> Iterator[PeerFactory]:
    started: list[ScriptedPeer] = []

    def start(replies: list[Reply], tls: ssl.SSLContext | None = None) -> ScriptedPeer:
        started.append(ScriptedPeer(replies, tls))
        return started[-1]

    yield start
    for server in started:
        server.stop()


def _get(pool: HTTPPool, url: str, timeout: float = 5.0, cap: int = 1 << 20) -> tuple[int, bytes]:
    return pool.get(url, pool.clock() + timeout, cap)


def _reason(pool: HTTPPool, url: str, timeout: float = 5.0, cap: int = 1 << 20) -> tuple[str, str]:
    with pytest.raises(FetchError) as caught:
        _get(pool, url, timeout, cap)
    return caught.value.reason, str(caught.value)


def test_one_connection_serves_every_request(peer: PeerFactory) -> None:
    server = peer([ok(b"a"), ok(b"b"), ok(b"c")])
    pool = HTTPPool()
    assert [_get(pool, server.url + f"/v1/models/m{i}") for i in range(3)] == [
        (200, b"a"),
        (200, b"b"),
        (200, b"c"),
    ]
    assert server.accepted == 1 and server.paths == ["/v1/models/m0", "/v1/models/m1", "/v1/models/m2"]


def test_statuses_other_than_200_come_back_with_their_body(peer: PeerFactory) -> None:
    body = b'{ "error": "Servable not found" }'
    server = peer([Reply(b"HTTP/1.1 404 Not Found\r\nContent-Length: %d\r\n\r\n%s" % (len(body), body))])
    assert _get(HTTPPool(), server.url + "/v1/models/x") == (404, body)


def test_kept_alive_connection_closed_by_the_server_is_replaced(peer: PeerFactory) -> None:
    # The second request reaches the first connection, which the server then drops unanswered: a GET is
    # sent again on a new connection instead of failing the target.
    server = peer([ok(b"a"), Reply(b"", then="close"), ok(b"b")])
    pool = HTTPPool()
    assert _get(pool, server.url + "/x") == (200, b"a")
    assert _get(pool, server.url + "/x") == (200, b"b")
    assert server.accepted == 2


def test_connection_the_server_closed_while_idle_is_replaced(peer: PeerFactory) -> None:
    server = peer([Reply(ok(b"a").data, then="close"), ok(b"b")])
    pool = HTTPPool()
    assert _get(pool, server.url + "/x") == (200, b"a")
    assert _get(pool, server.url + "/x") == (200, b"b")
    assert server.accepted == 2


def test_new_connection_closed_unanswered_is_a_connection_error(peer: PeerFactory) -> None:
    server = peer([Reply(b"", then="close"), ok()])
    assert _reason(HTTPPool(), server.url + "/x")[0] == "connection"
    assert server.accepted == 1  # no retry: the server, not a stale connection, dropped it


def test_failed_connection_is_discarded_not_reused(peer: PeerFactory) -> None:
    server = peer([Reply(b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nhalf", then="hang"), ok(b"next")])
    pool = HTTPPool()
    reason, detail = _reason(pool, server.url + "/x", timeout=0.3)
    assert reason == "timeout" and "stalled" in detail
    assert _get(pool, server.url + "/x") == (200, b"next")
    assert server.accepted == 2


def test_chunked_body_is_joined(peer: PeerFactory) -> None:
    server = peer([Reply(CHUNKED_HEAD + b"3\r\nabc\r\n2\r\nde\r\n0\r\n\r\n"), ok(b"after")])
    pool = HTTPPool()
    assert _get(pool, server.url + "/x") == (200, b"abcde")
    assert _get(pool, server.url + "/x") == (200, b"after") and server.accepted == 1


@pytest.mark.parametrize(
    "reply",
    [
        Reply(CHUNKED_HEAD + b"a\r\nabc", then="close"),
        Reply(CHUNKED_HEAD + b"3\r\nabc\r\n", then="close"),
        Reply(b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nhalf", then="close"),
    ],
    ids=["inside-a-chunk", "before-the-last-chunk", "short-of-content-length"],
)
def test_body_cut_off_is_truncated(peer: PeerFactory, reply: Reply) -> None:
    assert _reason(HTTPPool(), peer([reply]).url + "/x")[0] == "truncated"


def test_body_until_close_is_read_to_the_end(peer: PeerFactory) -> None:
    server = peer([Reply(b"HTTP/1.1 200 OK\r\nConnection: close\r\n\r\nall of it", then="close"), ok()])
    pool = HTTPPool()
    assert _get(pool, server.url + "/x") == (200, b"all of it")
    assert _get(pool, server.url + "/x") == (200, b"{}") and server.accepted == 2


@pytest.mark.parametrize(
    "head",
    [
        b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n",
        b"HTTP/1.1 200 OK\r\ncontent-LENGTH: 2\r\nX-Folded: a\r\n b\r\nContent-Length: 99\r\n\r\n",
        b"HTTP/1.1 200 OK\nContent-Length: 2\n\n",
    ],
    ids=["after-100-continue", "names-any-case-first-wins-folded", "bare-newlines"],
)
def test_header_blocks_in_every_valid_form(peer: PeerFactory, head: bytes) -> None:
    server = peer([Reply(head + b"ok"), ok(b"next")])
    pool = HTTPPool()
    assert _get(pool, server.url + "/x") == (200, b"ok")
    assert _get(pool, server.url + "/x") == (200, b"next") and server.accepted == 1


def test_http_1_0_answer_is_read_and_its_connection_not_kept(peer: PeerFactory) -> None:
    server = peer([Reply(b"HTTP/1.0 200 OK\r\nContent-Length: 2\r\n\r\nok", then="close"), ok(b"next")])
    pool = HTTPPool()
    assert _get(pool, server.url + "/x") == (200, b"ok")
    assert _get(pool, server.url + "/x") == (200, b"next") and server.accepted == 2


def test_too_many_headers_is_a_connection_error(peer: PeerFactory) -> None:
    head = b"HTTP/1.1 200 OK\r\n" + b"X-Pad: 1\r\n" * 101 + b"Content-Length: 0\r\n\r\n"
    reason, detail = _reason(HTTPPool(), peer([Reply(head)]).url + "/x")
    assert reason == "connection" and "more than 100 headers" in detail


def test_streamed_body_over_the_cap_is_too_large(peer: PeerFactory) -> None:
    chunks = b"400\r\n" + b"x" * 1024 + b"\r\n"
    server = peer([Reply(CHUNKED_HEAD + chunks * 4 + b"0\r\n\r\n")])
    reason, detail = _reason(HTTPPool(), server.url + "/x", cap=3000)
    assert reason == "too_large" and "3000 byte cap" in detail


def test_slow_drip_is_cut_at_the_deadline(peer: PeerFactory) -> None:
    server = peer([Reply(CHUNKED_HEAD, then="drip")])  # drips until the peer stops: it never ends
    ticks = [0.0]

    def clock() -> float:  # every look at the clock is 0.1 s later: the deadline comes after a few reads
        ticks[0] += 0.1
        return ticks[0]

    reason, detail = _reason(HTTPPool(clock=clock), server.url + "/x", timeout=0.45)
    # The drip never pauses for long: the overall deadline ended it, not a read timeout ("stalled").
    assert reason == "timeout" and "body not read within" in detail, detail


def test_no_answer_is_a_timeout(peer: PeerFactory) -> None:
    server = peer([Reply(b"", then="hang")])  # holds until the peer stops: only the timeout ends the wait
    reason, detail = _reason(HTTPPool(clock=lambda: 100.0), server.url + "/x", timeout=0.3)
    assert reason == "timeout" and "no answer within 0.3s" in detail, detail  # the socket waited 0.3 s


def test_refused_is_a_connection_error() -> None:
    with socket.create_server(("127.0.0.1", 0)) as listener:
        url = f"http://127.0.0.1:{listener.getsockname()[1]}/x"
    reason, detail = _reason(HTTPPool(), url)
    assert reason == "connection" and "ConnectionRefusedError" in detail


def test_not_a_response_is_a_connection_error(peer: PeerFactory) -> None:
    server = peer([Reply(b"SSH-2.0-OpenSSH_9.6\r\n", then="close")])
    assert _reason(HTTPPool(), server.url + "/x")[0] == "connection"


def test_unrequested_compression_is_an_invalid_body(peer: PeerFactory) -> None:
    server = peer([ok(b"\x1f\x8b\x08", headers="Content-Encoding: gzip\r\n")])
    reason, detail = _reason(HTTPPool(), server.url + "/x")
    assert reason == "invalid_body" and "'gzip'" in detail


def test_idle_connections_expire(peer: PeerFactory) -> None:
    now = [1000.0]
    server = peer([ok(b"a"), ok(b"b"), ok(b"c")])
    pool = HTTPPool(idle_seconds=30, clock=lambda: now[0])
    pool.get(server.url + "/x", now[0] + 5, 1 << 20)
    now[0] += 10
    pool.get(server.url + "/x", now[0] + 5, 1 << 20)
    assert server.accepted == 1
    now[0] += 31
    assert pool.get(server.url + "/x", now[0] + 5, 1 << 20) == (200, b"c")
    assert server.accepted == 2


def test_close_hangs_up_idle_connections(peer: PeerFactory) -> None:
    server = peer([ok(), ok()])
    pool = HTTPPool()
    _get(pool, server.url + "/x")
    pool.close()
    _get(pool, server.url + "/x")  # still usable; the connection is not kept after close
    assert server.accepted == 2


@pytest.fixture(scope="module")
def tls_context(tmp_path_factory: pytest.TempPathFactory) -> tuple[ssl.SSLContext, Path]:
    """A server context with a fresh self-signed certificate for 127.0.0.1, and that certificate."""
    root = tmp_path_factory.mktemp("tfs-tls")
    cert, key = root / "cert.pem", root / "key.pem"
    subprocess.run(
        [
            *("openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1"),
            *("-nodes", "-days", "1", "-subj", "/CN=tfserving-test"),
            *("-addext", "subjectAltName=IP:127.0.0.1", "-keyout", str(key), "-out", str(cert)),
        ],
        check=True,
        capture_output=True,
        timeout=30,
    )
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    return context, cert


def test_https_verifies_the_certificate_by_default(
    peer: PeerFactory, tls_context: tuple[ssl.SSLContext, Path]
) -> None:
    server = peer([ok()], tls=tls_context[0])
    reason, detail = _reason(HTTPPool(), server.url + "/x")
    assert reason == "connection" and "CERTIFICATE_VERIFY_FAILED" in detail


def test_https_with_a_trusted_certificate(
    peer: PeerFactory, tls_context: tuple[ssl.SSLContext, Path]
) -> None:
    server = peer([ok(b"a"), ok(b"b")], tls=tls_context[0])
    pool = HTTPPool(ssl_context=ssl.create_default_context(cafile=str(tls_context[1])))
    assert _get(pool, server.url + "/x") == (200, b"a")
    assert _get(pool, server.url + "/x") == (200, b"b") and server.accepted == 1

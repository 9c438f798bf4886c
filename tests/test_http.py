"""The HTTP front over real sockets: routes, isolation, health, bursts, slow clients, hostile requests."""

from __future__ import annotations

import gzip
import socket
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest

from tests.dummy_plugin import DummyPlugin
from tests.helpers import http_get, promtool_check_metrics, running_exporter, scrape, value
from tests.http_raw import exchange, get, split_response


def test_metrics_landing_and_404() -> None:
    with running_exporter([], [DummyPlugin()]) as exporter:
        body = scrape(exporter)
        assert value(body, "mlobs_collector_success", collector="dummy") == 1
        assert value(body, "mlobs_build_info", gpu_backend="none") == 1
        status, _, page = http_get(f"http://127.0.0.1:{exporter.port}/")
        assert status == 200 and 'href="/metrics"' in page
        assert http_get(f"http://127.0.0.1:{exporter.port}/nope")[0] == 404
        assert promtool_check_metrics(body) == ""


def test_custom_telemetry_path() -> None:
    with running_exporter(["--web.telemetry-path=/probe"], [DummyPlugin()]) as exporter:
        assert value(scrape(exporter, "/probe"), "mlobs_collector_success", collector="dummy") == 1
        assert http_get(f"http://127.0.0.1:{exporter.port}/metrics")[0] == 404


def test_raising_collector_is_isolated_and_its_partial_output_dropped() -> None:
    plugins = [DummyPlugin("good"), DummyPlugin("bad")]
    with running_exporter(["--bad.mode=raise"], plugins) as exporter:
        body = scrape(exporter)
        assert value(body, "mlobs_collector_success", collector="bad") == 0
        assert value(body, "mlobs_collector_success", collector="good") == 1
        assert value(body, "mlobs_collector_duration_seconds", collector="bad") is not None
        assert value(body, "mlobs_collector_success", collector="partial-output-must-be-dropped") is None
        assert value(body, "dummy_value", source="good") == 0.5


def test_partial_collection_keeps_output_but_reports_failure() -> None:
    with running_exporter(["--dummy.mode=partial"], [DummyPlugin()]) as exporter:
        body = scrape(exporter)
        assert value(body, "mlobs_collector_success", collector="dummy") == 0
        assert value(body, "dummy_value", source="dummy") == 0.5


def test_health_reports_each_collector_and_fails_when_one_is_unhealthy() -> None:
    import json

    with running_exporter([], [DummyPlugin()]) as exporter:
        scrape(exporter)
        status, _, body = http_get(f"http://127.0.0.1:{exporter.port}/health")
        assert status == 200
        report = json.loads(body)
        assert report["collectors"]["dummy"]["last_scrape_success"] is True
    with running_exporter(["--dummy.mode=unhealthy"], [DummyPlugin()]) as exporter:
        status, _, body = http_get(f"http://127.0.0.1:{exporter.port}/health")
        assert status == 503 and json.loads(body)["status"] == "unhealthy"


def test_a_slow_scrape_does_not_block_health_or_other_scrapes() -> None:
    plugin = DummyPlugin()
    with running_exporter(["--dummy.mode=block"], [plugin]) as exporter:
        collector = plugin.built[0]
        url = f"http://127.0.0.1:{exporter.port}"
        with ThreadPoolExecutor(max_workers=2) as pool:
            slow = pool.submit(http_get, f"{url}/metrics")
            assert http_get(f"{url}/health", timeout=2)[0] == 200
            assert not slow.done()
            collector.release.set()
            assert slow.result()[0] == 200


def test_fifty_concurrent_scrapes_all_succeed() -> None:
    with running_exporter([], [DummyPlugin()]) as exporter:
        url = f"http://127.0.0.1:{exporter.port}/metrics"
        barrier = threading.Barrier(50)

        def scrape_together(_: int) -> int:
            barrier.wait()
            return http_get(url)[0]

        with ThreadPoolExecutor(max_workers=50) as pool:
            assert list(pool.map(scrape_together, range(50))) == [200] * 50


def test_stop_closes_collectors() -> None:
    plugin = DummyPlugin()
    with running_exporter([], [plugin]):
        pass
    assert plugin.built[0].closed


def test_prepare_runs_for_every_collector_before_any_collects() -> None:
    from exporter.catalogue.families import FamilySet
    from exporter.collector import Health, IsolatingCollector

    events: list[str] = []

    class Recording:
        def __init__(self, name: str, fail_prepare: bool = False) -> None:
            self.name = name
            self.fail_prepare = fail_prepare

        def prepare(self) -> None:
            events.append(f"prepare {self.name}")
            if self.fail_prepare:
                raise RuntimeError("kubelet unreachable")

        def collect(self, out: FamilySet) -> bool:
            events.append(f"collect {self.name}")
            return True

        def health(self) -> Health:
            return Health(True)

        def close(self) -> None:
            pass

    labels = {"version": "0", "python_version": "3", "node": "n", "gpu_backend": "none"}
    root = IsolatingCollector([Recording("gpu"), Recording("attribution", fail_prepare=True)], labels)
    root.scrape()
    assert events == ["prepare gpu", "prepare attribution", "collect gpu", "collect attribution"]


def _threads_named(prefix: str) -> int:
    return sum(1 for thread in threading.enumerate() if thread.name.startswith(prefix))


def test_two_hundred_simultaneous_scrapes_are_all_answered_by_the_fixed_pool() -> None:
    with running_exporter([], [DummyPlugin()]) as exporter:
        url = f"http://127.0.0.1:{exporter.port}/metrics"
        barrier = threading.Barrier(200)

        def scrape_together(_: int) -> int:
            barrier.wait()
            return http_get(url, timeout=30)[0]

        threads_before = threading.active_count()
        with ThreadPoolExecutor(max_workers=200) as pool:
            statuses = list(pool.map(scrape_together, range(200)))
        assert statuses == [200] * 200
        # 200 at once on 40 workers, none refused, no thread added: the queue held the rest.
        assert exporter.server.stats["refused_503"] == 0
        assert threading.active_count() == threads_before
        # How fast (goal: all within 2 s) is measured by `make bench`: benchmarks/robustness.py, burst.


def test_a_thousand_slow_connections_pin_no_thread_and_a_scrape_is_answered_before_they_time_out() -> None:
    with running_exporter([], [DummyPlugin()]) as exporter:
        threads_before = threading.active_count()
        slow = [socket.create_connection(("127.0.0.1", exporter.port)) for _ in range(1000)]
        try:
            for sock in slow[::2]:  # half send part of a head, half nothing at all
                sock.sendall(b"GET /metrics HTTP/1.1\r\nHost: loc")
            deadline = time.monotonic() + 30
            while exporter.server.stats["accepted"] < 1000 and time.monotonic() < deadline:
                time.sleep(0.01)
            assert exporter.server.stats["accepted"] == 1000
            assert threading.active_count() == threads_before
            assert _threads_named("http-worker-") == 40
            assert http_get(f"http://127.0.0.1:{exporter.port}/metrics")[0] == 200
            # Answered while every slow connection is still within its 10 s header timeout: not behind them.
            assert exporter.server.stats["timed_out"] == 0
        finally:
            for sock in slow:
                sock.close()


def test_head_answers_the_headers_of_get_without_a_body() -> None:
    with running_exporter([], [DummyPlugin()]) as exporter:
        status, headers, body = split_response(exchange(exporter.port, get("/metrics", method="HEAD")))
    assert status == "HTTP/1.1 200 OK"
    assert headers["content-type"].startswith("text/plain") and int(headers["content-length"]) > 100
    assert body == b""


@pytest.mark.parametrize("method", ["POST", "PUT", "DELETE", "TRACE", "PATCH", "OPTIONS"])
def test_methods_other_than_get_and_head_are_405_and_run_no_scrape(method: str) -> None:
    plugin = DummyPlugin()
    with running_exporter([], [plugin]) as exporter:
        raw = exchange(exporter.port, get("/metrics", "Content-Length: 0", method=method))
    status, headers, _ = split_response(raw)
    assert status == "HTTP/1.1 405 Method Not Allowed"
    assert headers["allow"] == "GET, HEAD"
    assert plugin.built[0].collects == 0


@pytest.mark.parametrize(
    ("accept_encoding", "gzipped"),
    [
        ("gzip", True),
        ("GZIP", True),
        ("deflate, gzip;q=0.8", True),
        ("*", True),
        ("br;q=1.0, *;q=0.1", True),
        ("gzip;q=0", False),
        ("gzip;q=0.0, *", False),
        ("notgzip", False),
        ("identity", False),
        ("gzip;q=0.5, identity", False),
        ("*;q=0", False),
        ("", False),
    ],
)
def test_gzip_is_chosen_by_accept_encoding_negotiation(accept_encoding: str, gzipped: bool) -> None:
    with running_exporter([], [DummyPlugin()]) as exporter:
        raw = exchange(exporter.port, get("/metrics", f"Accept-Encoding: {accept_encoding}"))
    status, headers, body = split_response(raw)
    assert status == "HTTP/1.1 200 OK" and headers["vary"] == "Accept-Encoding"
    assert (headers.get("content-encoding") == "gzip") is gzipped
    text = gzip.decompress(body) if gzipped else body
    assert b"mlobs_collector_success" in text


@pytest.mark.parametrize(
    ("request_bytes", "status"),
    [
        (b"garbage\r\n\r\n", "400 Bad Request"),
        (b"GET /metrics\r\n\r\n", "400 Bad Request"),  # HTTP/0.9 gets a status line all the same
        (b"GET /metrics HTTP/1.1 extra\r\n\r\n", "400 Bad Request"),
        (b"GET metrics HTTP/1.1\r\n\r\n", "400 Bad Request"),
        (b"GET /metrics HTTP/1.1\r\nBad Header\r\n\r\n", "400 Bad Request"),
        (b"GET /metrics HTTP/1.1\r\nName : value\r\n\r\n", "400 Bad Request"),
        (b"GET /metrics HTTP/2.0\r\n\r\n", "505 HTTP Version Not Supported"),
        (b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03", "400 Bad Request"),  # TLS on a plain port
        (b"GET /" + b"a" * 9000, "414 Request-URI Too Long"),
        (b"GET / HTTP/1.1\r\n" + b"X-Pad: " + b"a" * 70_000, "431 Request Header Fields Too Large"),
        (b"GET / HTTP/1.1\r\n" + b"X-A: b\r\n" * 101 + b"\r\n", "431 Request Header Fields Too Large"),
    ],
)
def test_a_malformed_or_oversized_request_gets_an_error_with_a_status_line(
    request_bytes: bytes, status: str
) -> None:
    plugin = DummyPlugin()
    with running_exporter([], [plugin]) as exporter:
        raw = exchange(exporter.port, request_bytes)
    assert split_response(raw)[0] == f"HTTP/1.1 {status}"
    assert plugin.built[0].collects == 0


def test_http_1_0_and_absolute_form_requests_are_served() -> None:
    with running_exporter([], [DummyPlugin()]) as exporter:
        old = exchange(exporter.port, b"GET /metrics HTTP/1.0\r\n\r\n")
        absolute = exchange(exporter.port, b"GET http://localhost/metrics?x=1 HTTP/1.1\r\n\r\n")
    for raw in (old, absolute):
        status, _, body = split_response(raw)
        assert status == "HTTP/1.1 200 OK" and b"mlobs_collector_success" in body


def test_the_http_fronts_refusals_are_served_as_counters() -> None:
    from exporter.http_server import EVENTS

    with running_exporter([], [DummyPlugin()]) as exporter:
        first = scrape(exporter)
        assert {event: value(first, "mlobs_http_events_total", event=event) for event in EVENTS} == {
            **dict.fromkeys(EVENTS, 0.0),
            "accepted": 1.0,
            "queued": 1.0,
        }  # this scrape itself, not yet answered
        status, _, _ = split_response(exchange(exporter.port, b"NOT A REQUEST\r\n\r\n"))
        assert status.startswith("HTTP/1.1 400")
        # Each is counted once its answer is written, which the client may see first: read until both are.
        for _ in range(50):
            body = scrape(exporter)
            if value(body, "mlobs_http_events_total", event="refused_400") == 1:
                break
            time.sleep(0.01)
    assert value(body, "mlobs_http_events_total", event="refused_400") == 1
    assert value(body, "mlobs_http_events_total", event="answered") >= 1  # the first scrape at least
    assert value(body, "mlobs_http_events_total", event="accepted") >= 3
    assert value(body, "mlobs_http_events_total", event="refused_503") == 0
    assert promtool_check_metrics(body) == ""

"""What an MLflow server sends is bounded: bodies by `max_body_bytes`, error texts by length and to
printable text, redirects to the server's own origin and a few hops, and a hung server by one request
timeout for the whole refresh. Over loopback sockets, against stub servers."""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from exporter.mlflow.http import API_PREFIX, DEFAULT_MAX_BODY_BYTES, MAX_REDIRECTS
from exporter.mlflow.stats import ERROR_KINDS
from tests.helpers import value
from tests.mlflow_stubs import (
    REGISTRY_ONLY,
    SECTIONS,
    CountingBody,
    ServerAnswer,
    StubServer,
    StubSession,
    build_collector,
    endpoint_of,
    errors,
    http_collector,
    json_answer,
    read_once,
    read_sections,
)

REGISTRY = "registered-models/search"
MiB = 1024 * 1024


def test_a_body_without_a_length_is_read_only_up_to_the_cap() -> None:
    body = CountingBody(20 * MiB)
    page, detail = read_once(build_collector(StubSession({REGISTRY: (200, {}, body)})))
    assert errors(page, REGISTRY, "too_large") == 1
    assert value(page, "mlflow_up") == 0
    assert DEFAULT_MAX_BODY_BYTES < body.read_bytes <= DEFAULT_MAX_BODY_BYTES + 64 * 1024
    assert f"over the {DEFAULT_MAX_BODY_BYTES} byte cap" in detail


def test_a_declared_length_over_the_cap_is_refused_before_reading() -> None:
    session = StubSession({REGISTRY: (200, {"Content-Length": str(20 * MiB)}, b"{}")})
    page, _ = read_once(build_collector(session, max_body_bytes=4096))
    assert errors(page, REGISTRY, "too_large") == 1
    assert "registry" not in read_sections(page)


def test_a_streamed_body_over_the_cap_stops_the_read_early() -> None:
    def endless_json(path: str) -> ServerAnswer:
        chunks: Iterator[bytes] = iter([b'{"registered_models": [', *([b'{"name": "m"},' * 4096] * 512)])
        return 200, {}, chunks if endpoint_of(path) == REGISTRY else json_answer({})[2]

    with StubServer(endless_json) as server:
        page, _ = read_once(http_collector(server.url, max_body_bytes=MiB, **REGISTRY_ONLY))
        sent = server.sent_bytes
    assert errors(page, REGISTRY, "too_large") == 1
    assert sent < 16 * MiB  # of about 28 MiB on offer; the rest is socket buffers


def test_an_error_text_with_control_bytes_is_escaped_and_cut(caplog: pytest.LogCaptureFixture) -> None:
    message = "\x1b[2J\x1b[31mdatabase on fire " + "x" * 1000
    session = StubSession({REGISTRY: json_answer({"error_code": "INTERNAL_ERROR", "message": message}, 500)})
    page, detail = read_once(build_collector(session))
    assert errors(page, REGISTRY, "server_error") == 1
    assert "HTTP 500 \\x1b[2J\\x1b[31mdatabase on fire xxx" in detail and "[truncated]" in detail
    assert len(detail) < 400 and "\x1b" not in detail
    logged = "\n".join(r.getMessage() for r in caplog.records)
    assert "\x1b" not in logged and len(logged) < 1000


@pytest.mark.parametrize(
    ("body", "shown"),
    [
        (b"<p>bad gateway" * 150_000, "HTTP 502 <p>bad gateway<p>bad"),
        (
            json_answer({"error_code": "INTERNAL_ERROR", "message": "m" * 2 * MiB})[2],
            'HTTP 502 {"error_code": "INTERNAL_ERROR", "message": "mmm',
        ),
    ],
)
def test_a_huge_error_body_is_read_only_in_part_and_stays_a_server_error(
    caplog: pytest.LogCaptureFixture, body: bytes, shown: str
) -> None:
    stream = CountingBody(len(body), fill=body)
    page, detail = read_once(build_collector(StubSession({REGISTRY: (502, {}, stream)})))
    assert errors(page, REGISTRY, "server_error") == 1 and errors(page, REGISTRY, "too_large") == 0
    assert stream.read_bytes <= 128 * 1024
    assert shown in detail and len(detail) < 400
    assert len("\n".join(r.getMessage() for r in caplog.records)) < 1000


def redirecting(to: str, status: int = 302) -> StubServer:
    return StubServer(lambda path: (status, {"Location": to + path}, b""))


def test_a_redirect_to_another_host_is_not_followed_and_counted() -> None:
    with StubServer() as elsewhere:
        other = f"http://localhost:{elsewhere.port}"  # same machine, another host name: another origin
        with redirecting(other) as server:
            page, detail = read_once(http_collector(server.url, **REGISTRY_ONLY))
        assert elsewhere.paths == []
    assert errors(page, REGISTRY, "redirect") == 1
    assert "302 to http://localhost: another host, not followed" in detail


def test_redirects_on_the_same_host_are_followed_a_few_times_only() -> None:
    with StubServer(lambda path: (307, {"Location": path}, b"")) as server:
        page, detail = read_once(http_collector(server.url, **REGISTRY_ONLY))
    assert len(server.paths) == 1 + MAX_REDIRECTS
    assert errors(page, REGISTRY, "redirect") == 1
    assert f"more than {MAX_REDIRECTS} redirects" in detail


@pytest.mark.parametrize(
    ("location", "fragment"),
    [
        ("http://[::1/x", "unreadable Location"),
        ("http://127.0.0.1:99999/x", "another host"),
        ("//elsewhere.test/x", "to http://elsewhere.test: another host"),
        ("https://127.0.0.1/x", "to https://127.0.0.1: another host"),
        ("", f"more than {MAX_REDIRECTS} redirects"),
    ],
)
def test_odd_locations_are_refused_as_redirects(location: str, fragment: str) -> None:
    session = StubSession({REGISTRY: (302, {"Location": location}, b"")})
    page, detail = read_once(build_collector(session, **REGISTRY_ONLY))
    assert errors(page, REGISTRY, "redirect") == 1
    assert fragment in detail


@settings(deadline=None)
@given(location=st.text(max_size=40), status=st.sampled_from([301, 302, 303, 307, 308]))
def test_any_location_is_followed_on_the_same_origin_or_refused(location: str, status: int) -> None:
    session = StubSession({REGISTRY: (status, {"Location": location}, b"")})
    page, detail = read_once(build_collector(session, **REGISTRY_ONLY))
    assert "internal error" not in detail
    counted = sum(errors(page, REGISTRY, kind) for kind in ERROR_KINDS)
    assert counted == (0 if value(page, "mlflow_up") == 1 else 1)


def test_a_redirect_on_the_same_host_is_followed() -> None:
    def moved(path: str) -> ServerAnswer:
        if path.startswith("/old/"):
            return 308, {"Location": path.removeprefix("/old")}, b""
        return json_answer({"registered_models": [{"name": "fraud-detector"}]})

    with StubServer(moved) as server:
        page, _ = read_once(http_collector(server.url + "/old", **REGISTRY_ONLY))
    assert value(page, "mlflow_up") == 1 and value(page, "mlflow_registered_models") == 1
    assert [path.split("?")[0] for path in server.paths][:2] == [
        f"/old{API_PREFIX}{REGISTRY}",
        f"{API_PREFIX}{REGISTRY}",
    ]


def test_a_hung_server_shows_after_one_request_timeout_for_all_sections() -> None:
    with StubServer(hang=True) as server:
        page, _ = read_once(http_collector(server.url, request_timeout=1.0))
    assert value(page, "mlflow_up") == 0
    for endpoint in (REGISTRY, "experiments/get-by-name", "experiments/search"):
        assert errors(page, endpoint, "timeout") == 1, endpoint
    # All three waited at once: one timeout for the refresh. Read one after another (each hangs up
    # before the next is sent), it would take three.
    assert server.most_held == 3


def test_a_body_that_trickles_in_times_out_within_the_request_timeout() -> None:
    def trickle(path: str) -> ServerAnswer:
        def chunks() -> Iterator[bytes]:
            yield b'{"registered_models": ['
            for _ in range(20):
                time.sleep(0.2)  # the upstream's pace: each read succeeds, the whole never ends in time
                yield b" "
            yield b"]}"

        return 200, {}, chunks()

    with StubServer(trickle) as server:
        page, detail = read_once(http_collector(server.url, request_timeout=1.0, **REGISTRY_ONLY))
    assert errors(page, REGISTRY, "timeout") == 1
    # The overall deadline, not the read timeout (each read arrives in time, the whole in 4 s), cut it.
    assert detail.endswith("timeout: body not read within 1s"), detail


@pytest.fixture(scope="module")
def fuzz_server() -> Iterator[tuple[StubServer, list[ServerAnswer]]]:
    answer: list[ServerAnswer] = [(200, {}, b"{}")]
    with StubServer(lambda _: answer[0]) as server:
        yield server, answer


@settings(deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(body=st.binary(max_size=256), status=st.sampled_from([200, 200, 200, 301, 404, 500]))
def test_any_bytes_over_http_give_a_page_without_a_traceback(
    fuzz_server: tuple[StubServer, list[ServerAnswer]],
    caplog: pytest.LogCaptureFixture,
    body: bytes,
    status: int,
) -> None:
    caplog.clear()
    server, answer = fuzz_server
    answer[0] = (status, {"Content-Type": "application/json"}, body)
    page, _ = read_once(http_collector(server.url, request_timeout=5.0))
    assert [r.getMessage() for r in caplog.records if r.exc_info or "internal error" in r.getMessage()] == []
    assert all("\x1b" not in r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING)
    assert value(page, "mlflow_up") in (0, 1)
    assert (value(page, "mlflow_up") == 1) == (read_sections(page) == set(SECTIONS))

"""The TF Serving source: status bodies parsed strictly, reads bounded in size and time, failures named."""

from __future__ import annotations

import time
from collections.abc import Callable

import pytest

from exporter.tfserving.plugin import default_pool
from exporter.tfserving.source import FetchError, TFServingClient, error_message, parse_model_status
from exporter.tfserving.targets import Target
from tests.fixtures_tfserving import SimFactory


def test_real_status_body(tfs_fixture: Callable[[str], str]) -> None:
    status = parse_model_status("m", tfs_fixture("tfserving_status_single_available.json").encode())
    assert status.found and status.available() == ["123"]
    assert status.versions[0].error_code == "OK" and status.versions[0].error_message == ""


def test_numeric_version_and_missing_status_are_accepted() -> None:
    status = parse_model_status("m", b'{"model_version_status": [{"version": 7, "state": "LOADING"}]}')
    assert (status.versions[0].version, status.versions[0].state, status.versions[0].error_code) == (
        "7",
        "LOADING",
        "OK",
    )


@pytest.mark.parametrize(
    "body",
    [
        b"<html>",
        b"[]",
        b'{"model_version_status": {}}',
        b'{"model_version_status": [{"state": "AVAILABLE"}]}',
        b'{"model_version_status": [{"version": "x1", "state": "AVAILABLE"}]}',
        b'{"model_version_status": [{"version": "1", "state": "READY"}]}',
        b'{"model_version_status": [{"version": "1", "state": "END", "status": ["OK"]}]}',
    ],
)
def test_bodies_that_are_not_a_status_are_invalid(body: bytes) -> None:
    with pytest.raises(FetchError) as caught:
        parse_model_status("m", body)
    assert caught.value.reason == "invalid_body"


def test_error_message_of_tf_error_bodies() -> None:
    assert error_message(b'{ "error": "Could not find any versions of model x" }') == (
        "Could not find any versions of model x"
    )
    assert error_message(b"plain text") == "plain text"


def _client(max_body_bytes: int = 1 << 24) -> TFServingClient:
    return TFServingClient(default_pool(time.monotonic), max_body_bytes)


def test_declared_length_over_the_cap_is_refused_before_reading(make_sim: SimFactory) -> None:
    sim = make_sim()
    with pytest.raises(FetchError) as caught:
        _client(max_body_bytes=1024).metrics_page(Target(sim.url), time.monotonic() + 5)
    assert caught.value.reason == "too_large" and "bytes over the 1024 cap" in str(caught.value)


def test_unknown_model_is_not_found_not_an_error(make_sim: SimFactory) -> None:
    status = _client().model_status(Target(make_sim().url), "nope", time.monotonic() + 5)
    assert not status.found and status.versions == ()


def test_no_time_left_means_no_request(make_sim: SimFactory) -> None:
    sim = make_sim()
    with pytest.raises(FetchError) as caught:
        _client().model_status(Target(sim.url), "bert", time.monotonic() - 1)
    assert caught.value.reason == "timeout"
    assert 'API=""' not in sim.state.page()  # the server never saw a status poll

"""Nothing a TF Serving sends fails the page, vanishes silently, or changes the series' label shape."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

import pytest

from exporter.collector import Collector, IsolatingCollector
from exporter.textsafe import LABEL_LIMIT, TRUNCATION_MARKER
from exporter.tfserving.catalogue import VERSION_MEMORY_SECONDS
from exporter.tfserving.collector import TFServingCollector
from exporter.tfserving.http import HTTPPool
from exporter.tfserving.simulator_state import SimModel, SimVersion, TFServingState
from exporter.tfserving.source import TFServingClient
from exporter.tfserving.targets import Target
from tests.fakes.tfserving_pool import FakePool, page
from tests.fixtures_isolation import BUILD_LABELS, gpu_series
from tests.fixtures_tfserving import SimFactory, two_models
from tests.helpers import promtool_check_metrics, samples, value
from tests.test_tfserving_http import ScriptedPeer, ok
from tests.test_tfserving_page_shapes import SHAPES

TARGET = "http://tfs:8501"
REQUEST_SERIES = ("tfserving_requests_total", "tfserving_request_duration_seconds")


def _collector(pool: object, clock: Callable[[], float] = time.monotonic) -> TFServingCollector:
    """A collector of one target with `bert` configured, reading through `pool`."""
    client = TFServingClient(pool, 1 << 20)  # type: ignore[arg-type]
    targets = [Target(TARGET, ("bert",))]
    return TFServingCollector(client, targets, workers=2, clock=clock, wall_clock=lambda: 1.7e9)


def _render(*collectors: Collector) -> str:
    return IsolatingCollector(list(collectors), BUILD_LABELS).render().decode("utf-8")


def _serving(state: TFServingState, page_text: str | None = None) -> dict[str, tuple[int, bytes]]:
    """The answers of a server in `state`, with `page_text` as its metrics page when given."""
    answers = page(state.page() if page_text is None else page_text)
    for model in state.models:
        code, body = state.status(model)
        answers[f"/v1/models/{model}"] = (code, body.encode())
    return answers  # type: ignore[return-value]


def test_a_lone_surrogate_in_a_status_message_fails_nothing(
    make_sim: SimFactory, fake_gpu: Collector
) -> None:
    broken = SimVersion(16, state="END", error_code="NOT_FOUND", error_message="no model at /m/\ud800\n")
    sim = make_sim(TFServingState([SimModel("bert", [broken, SimVersion(17)])]))
    tfserving = TFServingCollector(TFServingClient(HTTPPool(), 1 << 20), [Target(sim.url, ("bert",))])
    try:
        healthy, text = _render(fake_gpu), _render(fake_gpu, tfserving)
    finally:
        tfserving.close()
    message = "no model at /m/\\ud800\\x0a"
    assert value(text, "tfserving_model_load_error_info", version="16", message=message) == 1
    assert value(text, "mlobs_collector_success", collector="tfserving") == 1
    assert value(text, "mlobs_label_values_sanitized_total", collector="tfserving") == 1
    assert gpu_series(samples(text)) == gpu_series(samples(healthy))
    assert promtool_check_metrics(text) == ""


def test_a_long_status_message_is_cut_with_a_visible_marker() -> None:
    broken = SimVersion(16, state="END", error_code="NOT_FOUND", error_message="no SavedModel " * 100)
    state = TFServingState([SimModel("bert", [broken, SimVersion(17)])])
    text = _render(_collector(FakePool(_serving(state))))
    (message,) = [
        dict(labels)["message"] for name, labels in samples(text) if name == "tfserving_model_load_error_info"
    ]
    assert message == ("no SavedModel " * 100)[:LABEL_LIMIT] + TRUNCATION_MARKER


@pytest.mark.parametrize("shape", ["without-type-lines", "untyped", "help-only", "crlf"])
def test_request_series_survive_every_page_shape(shape: str) -> None:
    state = two_models()

    def request_series(page_text: str) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
        text = _render(_collector(FakePool(_serving(state, page_text))))
        assert value(text, "tfserving_target_scrape_success") == 1
        return {key: v for key, v in samples(text).items() if key[0].startswith(REQUEST_SERIES)}

    expected = request_series(state.page())
    assert len(expected) > 40
    assert request_series(SHAPES[shape](state.page())) == expected


def test_an_empty_page_is_a_failed_scrape_logged_once(caplog: pytest.LogCaptureFixture) -> None:
    collector = _collector(FakePool(_serving(two_models(), "")))
    root = IsolatingCollector([collector], BUILD_LABELS)
    with caplog.at_level(logging.INFO, logger="exporter.tfserving"):
        root.render()
        text = root.render().decode()
    assert value(text, "tfserving_target_scrape_success") == 0
    assert value(text, "tfserving_target_errors_total", reason="no_request_data") == 2
    (record,) = caplog.records
    assert record.levelno == logging.WARNING
    assert record.getMessage() == (
        f"tfserving target {TARGET}: failing: no_request_data: the page holds no metric (empty, or not a "
        "metrics page)"
    )


@pytest.mark.parametrize("bad", ["-Inf", "-1", "NaN"])
def test_an_impossible_request_count_is_dropped_and_counted(bad: str) -> None:
    state = two_models()
    original = ':tensorflow:serving:request_count{model_name="bert",status="OK"} '
    (line,) = [line for line in state.page().splitlines() if line.startswith(original)]
    text = _render(_collector(FakePool(_serving(state, state.page().replace(line, original + bad)))))
    assert value(text, "tfserving_requests_total", model="bert", status="OK") is None
    assert value(text, "tfserving_requests_total", model="bert", status="INVALID_ARGUMENT") is not None
    assert value(text, "tfserving_page_lines_dropped_total", reason="invalid_value") == 1
    assert value(text, "tfserving_target_scrape_success") == 0
    assert value(text, "tfserving_target_errors_total", reason="dropped_lines") == 1


def _versions(text: str) -> set[str]:
    return {
        dict(labels)["version"]
        for name, labels in samples(text)
        if name == "tfserving_requests_total" and dict(labels)["model"] == "bert"
    }


def test_the_version_label_outlives_a_failed_status_call_for_a_bounded_time() -> None:
    now = [0.0]
    pool = FakePool(_serving(two_models()))
    root = IsolatingCollector([_collector(pool, clock=lambda: now[0])], BUILD_LABELS)
    assert _versions(root.render().decode()) == {"17"}
    pool.answers["/v1/models/bert"] = (503, b'{"error": "Simulated outage"}')
    now[0] = VERSION_MEMORY_SECONDS
    failed = root.render().decode()
    assert value(failed, "tfserving_target_errors_total", reason="http_status") == 1
    assert _versions(failed) == {"17"}
    now[0] = VERSION_MEMORY_SECONDS + 1
    assert _versions(root.render().decode()) == {""}


def test_a_status_body_over_the_cap_is_counted_too_large() -> None:
    state = two_models()
    page_body = state.page().encode()
    peer = ScriptedPeer([ok(page_body), ok(b'{"model_version_status": []}' + b" " * 100_000)])
    collector = TFServingCollector(
        TFServingClient(HTTPPool(), len(page_body) + 1), [Target(peer.url, ("bert",))]
    )
    try:
        text = _render(collector)
    finally:
        collector.close()
        peer.stop()
    assert value(text, "tfserving_target_errors_total", reason="too_large") == 1
    assert value(text, "tfserving_requests_total", model="bert", status="OK") is not None

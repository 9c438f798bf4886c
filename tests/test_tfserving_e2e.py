"""Simulators -> exporter -> scrape over HTTP: what a Prometheus server sees, checked by promtool."""

from __future__ import annotations

import json
from contextlib import AbstractContextManager

from exporter.app import Exporter
from exporter.tfserving.plugin import TFServingPlugin
from exporter.tfserving.simulator_state import SimModel, SimVersion, TFServingState, failed_version
from tests.fixtures_tfserving import SimFactory, two_models
from tests.helpers import http_get, promtool_check_metrics, running_exporter, samples, scrape, value
from tests.test_tfserving_page import histogram_quantile


def _exporter(*targets: str, models: tuple[str, ...] = ()) -> AbstractContextManager[Exporter]:
    argv = ["--collector.tfserving", *(f"--tfserving.target={t}" for t in targets)]
    argv += [f"--tfserving.model={m}" for m in models]
    return running_exporter(argv, [TFServingPlugin()])


def test_scrape_is_promtool_clean_and_labels_every_series(make_sim: SimFactory) -> None:
    sims = [make_sim(two_models(seed=1)), make_sim(two_models(seed=2))]
    with _exporter(*(s.url for s in sims)) as exporter:
        body = scrape(exporter)
    assert promtool_check_metrics(body) == ""
    assert value(body, "mlobs_collector_success", collector="tfserving") == 1
    for sim in sims:
        assert value(body, "tfserving_target_scrape_success", target=sim.url) == 1
        assert (
            value(body, "tfserving_requests_total", target=sim.url, model="resnet", status="OK") is not None
        )
    names = {name for name, _ in samples(body) if name.startswith("tfserving_")}
    assert "tfserving_request_duration_seconds_bucket" in names and "tfserving_model_version_state" in names


def _source(state: TFServingState, series: str) -> float:
    """The value TF Serving's own page shows for one exact series."""
    (line,) = [line for line in state.page().splitlines() if line.startswith(series + " ")]
    return float(line.rsplit(" ", 1)[1])


def test_requests_and_latency_carry_the_one_available_version(make_sim: SimFactory) -> None:
    state = two_models()
    sim = make_sim(state)
    with _exporter(sim.url) as exporter:
        body = scrape(exporter)
    assert value(
        body, "tfserving_requests_total", model="bert", status="INVALID_ARGUMENT", version="17"
    ) == _source(state, ':tensorflow:serving:request_count{model_name="bert",status="INVALID_ARGUMENT"}')
    assert value(
        body, "tfserving_request_duration_seconds_count", model="bert", api="predict", version="17"
    ) == (
        _source(
            state,
            ':tensorflow:serving:request_latency_count{model_name="bert",API="predict",entrypoint="REST"}',
        )
    )
    assert (
        value(body, "tfserving_runtime_duration_seconds_count", model="resnet", api="Predict", version="3")
        == 50
    )
    assert value(body, "tfserving_model_version_state", model="bert", version="16", state="END") == 1
    assert value(body, "tfserving_model_version_state", model="bert", version="17", state="AVAILABLE") == 1
    assert value(body, "tfserving_model_available_versions", model="bert") == 1


def test_version_label_is_empty_while_two_versions_are_available(make_sim: SimFactory) -> None:
    state = TFServingState([SimModel("bert", [SimVersion(17), SimVersion(18)])])
    state.simulate("bert", 10)
    sim = make_sim(state)
    with _exporter(sim.url) as exporter:
        body = scrape(exporter)
    assert value(body, "tfserving_request_duration_seconds_count", model="bert", api="predict") == 10
    assert value(body, "tfserving_request_duration_seconds_count", model="bert", version="") == 10
    assert value(body, "tfserving_model_available_versions", model="bert") == 2


def test_status_polls_are_left_out_of_latency_but_counted_as_requests(make_sim: SimFactory) -> None:
    state = TFServingState([SimModel("bert")])
    sim = make_sim(state)
    with _exporter(sim.url, models=("bert",)) as exporter:
        scrape(exporter)
        body = scrape(exporter)
    # Two scrapes, one status poll each: TF Serving counts them (API "") but they are not serving traffic.
    assert (
        _source(
            state, ':tensorflow:serving:request_latency_count{model_name="bert",API="",entrypoint="REST"}'
        )
        == 2
    )
    assert value(body, "tfserving_request_duration_seconds_count", model="bert") is None
    # The second scrape's page may be read before or after its own poll: one or both polls are in it.
    assert value(body, "tfserving_requests_total", model="bert", status="OK") in (1, 2)


def test_exported_quantiles_match_tf_servings_to_the_microsecond(make_sim: SimFactory) -> None:
    state = two_models(seed=11)
    sim = make_sim(state)
    with _exporter(sim.url) as exporter:
        body = scrape(exporter)
    exported = sorted(
        (float(dict(labels)["le"]), v)
        for (name, labels), v in samples(body).items()
        if name == "tfserving_request_duration_seconds_bucket" and ("model", "bert") in labels
    )
    source = sorted(
        (float(line.split('le="')[1].split('"')[0]), float(line.rsplit(" ", 1)[1]))
        for line in state.page().splitlines()
        if line.startswith(':tensorflow:serving:request_latency_bucket{model_name="bert",API="predict"')
    )
    assert len(exported) == len(source) == 34
    for q in (0.5, 0.9, 0.99):
        assert abs(histogram_quantile(q, exported) * 1e6 - histogram_quantile(q, source)) < 1e-3


def test_failed_load_shows_attempts_and_error_message(make_sim: SimFactory) -> None:
    state = TFServingState([SimModel("bert", [SimVersion(17), failed_version(18, "/models/bert/18")])])
    sim = make_sim(state)
    with _exporter(sim.url, models=("bert",)) as exporter:
        body = scrape(exporter)
    assert value(body, "tfserving_model_load_attempts_total", model="bert", version="18", status="fail") == 6
    assert (
        value(body, "tfserving_model_load_attempts_total", model="bert", version="17", status="success") == 1
    )
    assert value(body, "tfserving_model_load_seconds_total", model="bert", version="17") == 8.0
    (message,) = [
        dict(labels)["message"]
        for (name, labels), _ in samples(body).items()
        if name == "tfserving_model_load_error_info"
    ]
    assert message.startswith("Could not find SavedModel") and message.endswith("/models/bert/18")
    assert value(body, "tfserving_model_load_error_info", version="18", error_code="NOT_FOUND") == 1
    assert value(body, "tfserving_model_version_state", version="18", state="END") == 1


def test_models_revealed_by_the_page_are_polled_and_remembered(make_sim: SimFactory) -> None:
    sim = make_sim()
    with _exporter(sim.url) as exporter:  # no model named: bert and resnet come from the page
        first = scrape(exporter)
        second = scrape(exporter)
    for body in (first, second):
        assert value(body, "tfserving_model_available_versions", model="resnet") == 1
        assert value(body, "tfserving_requests_total", model="bert", status="OK", version="17") is not None


def test_health_stays_ok_and_names_a_failing_target(make_sim: SimFactory) -> None:
    sim = make_sim()
    with _exporter(sim.url) as exporter:
        scrape(exporter)
        sim.stop()
        scrape(exporter)
        status, _, body = http_get(f"http://127.0.0.1:{exporter.port}/health")
    report = json.loads(body)["collectors"]["tfserving"]
    assert status == 200 and report["ok"] is True
    assert sim.url in report["detail"] and report["last_scrape_success"] is False

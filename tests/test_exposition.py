"""The exporter's one text-format renderer: parseable by prometheus-client, equal to what prometheus-client's
own writer makes of the same samples, and clean for promtool."""

from __future__ import annotations

import gzip
import math
import urllib.request

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily, Metric
from prometheus_client.parser import text_string_to_metric_families

from exporter.catalogue.families import FamilySet
from exporter.catalogue.spec import MetricSpec
from exporter.exposition import format_value
from exporter.textsafe import safe_text
from tests.dummy_plugin import DummyPlugin
from tests.helpers import promtool_check_metrics, running_exporter

TEMPERATURE = MetricSpec("demo_temperature_celsius", "gauge", 'Odd "help" with \\ and\nnewline.', ("name",))
REQUESTS = MetricSpec("demo_requests_total", "counter", "Requests.", ("code",))
LATENCY = MetricSpec("demo_latency_seconds", "histogram", "Latency.", ("api",))
BARE_LATENCY = MetricSpec("demo_bare_latency_seconds", "histogram", "Latency without labels.")
UP = MetricSpec("demo_up", "gauge", "Up.")


def _render(families: FamilySet) -> str:
    lines: list[str] = []
    families.render_into(lines)
    return "\n".join([*lines, ""])


HOSTILE = 'quote " back \\ nl \n end'
TEMPERATURES = [(HOSTILE, 41.5), ("plain", float("nan")), ("hot", float("inf")), ("cold", float("-inf"))]
LATENCY_BUCKETS = [("0.1", 2), ("1.27482", 5), ("+Inf", 6)]


def _families() -> FamilySet:
    """Every type, escaping in help and labels, NaN and both infinities, histograms with and without
    labels."""
    families = FamilySet()
    for name, celsius in TEMPERATURES:
        families.add(TEMPERATURE, celsius, name=name)
    families.add(REQUESTS, 7, code="200")
    families.add(REQUESTS, 1e20, code="500")
    families.add_histogram(LATENCY, LATENCY_BUCKETS, 3.25, api="predict")
    families.add_histogram(BARE_LATENCY, [("1", 1), ("+Inf", 1)], 0.5)
    families.add(UP, 1)
    return families


def _client_families() -> list[Metric]:
    """The same samples as `_families`, built with prometheus-client's own families (label values as
    exporter.textsafe makes them safe: that change is deliberate, tested in test_collector_isolation)."""
    temperature = GaugeMetricFamily(TEMPERATURE.name, TEMPERATURE.help, labels=["name"])
    for name, celsius in TEMPERATURES:
        temperature.add_metric([safe_text(name)], celsius)
    requests = CounterMetricFamily("demo_requests", REQUESTS.help, labels=["code"])
    requests.add_metric(["200"], 7)
    requests.add_metric(["500"], 1e20)
    latency = HistogramMetricFamily(LATENCY.name, LATENCY.help, labels=["api"])
    latency.add_metric(["predict"], [(le, float(count)) for le, count in LATENCY_BUCKETS], 3.25)
    bare = HistogramMetricFamily(
        BARE_LATENCY.name, BARE_LATENCY.help, buckets=[("1", 1.0), ("+Inf", 1.0)], sum_value=0.5
    )
    return [temperature, requests, latency, bare, GaugeMetricFamily(UP.name, UP.help, value=1)]


def _parsed(text: str) -> dict[str, tuple[str, str, list[tuple[str, dict[str, str], str]]]]:
    """{family: (type, help, [(sample, labels, value as text)])}: NaN compares equal to NaN as text."""
    return {
        family.name: (
            family.type,
            family.documentation,
            [(s.name, s.labels, repr(s.value)) for s in family.samples],
        )
        for family in text_string_to_metric_families(text)
    }


def test_render_round_trips_through_the_reference_parser() -> None:
    text = _render(_families())
    parsed = {f.name: f for f in text_string_to_metric_families(text)}
    assert parsed["demo_temperature_celsius"].documentation == 'Odd "help" with \\ and\nnewline.'
    first, second, hot, cold = parsed["demo_temperature_celsius"].samples
    # Quotes and backslashes round-trip; a newline, a control character, is made visible (textsafe).
    assert first.labels == {"name": 'quote " back \\ nl \\x0a end'} and first.value == 41.5
    assert math.isnan(second.value)
    assert (hot.value, cold.value) == (math.inf, -math.inf)
    assert parsed["demo_requests"].type == "counter"
    assert [s.value for s in parsed["demo_requests"].samples] == [7, 1e20]
    latency = {s.name: s for s in parsed["demo_latency_seconds"].samples if not s.name.endswith("_bucket")}
    buckets = [s for s in parsed["demo_latency_seconds"].samples if s.name.endswith("_bucket")]
    assert [(s.labels, s.value) for s in buckets] == [
        ({"api": "predict", "le": "0.1"}, 2),
        ({"api": "predict", "le": "1.27482"}, 5),
        ({"api": "predict", "le": "+Inf"}, 6),
    ]
    assert (
        latency["demo_latency_seconds_count"].value == 6 and latency["demo_latency_seconds_sum"].value == 3.25
    )
    assert next(s.labels for s in parsed["demo_bare_latency_seconds"].samples) == {"le": "1"}
    assert parsed["demo_up"].samples[0].value == 1
    assert promtool_check_metrics(text) == ""


def test_render_equals_what_prometheus_clients_own_writer_makes_of_the_same_samples() -> None:
    class Reference:
        def collect(self) -> list[Metric]:
            return _client_families()

    registry = CollectorRegistry(auto_describe=False)
    registry.register(Reference())
    reference = generate_latest(registry).decode()
    assert _parsed(_render(_families())) == _parsed(reference)
    assert promtool_check_metrics(reference) == ""


def test_histogram_buckets_must_end_with_inf() -> None:
    import pytest

    with pytest.raises(ValueError, match="must end with"):
        FamilySet().add_histogram(LATENCY, [("0.1", 2)], 1.0, api="x")


def test_format_value_matches_prometheus_spelling() -> None:
    assert format_value(1.0) == "1.0"
    assert format_value(-3.0) == "-3.0"
    assert format_value(0.25) == "0.25"
    assert format_value(float("inf")) == "+Inf"
    assert format_value(float("-inf")) == "-Inf"
    assert format_value(1e20) == "1e+20"


def test_metrics_are_gzipped_when_the_scraper_asks() -> None:
    with running_exporter([], [DummyPlugin()]) as exporter:
        request = urllib.request.Request(
            f"http://127.0.0.1:{exporter.port}/metrics", headers={"Accept-Encoding": "gzip"}
        )
        with urllib.request.urlopen(request, timeout=10) as response:
            assert response.headers["Content-Encoding"] == "gzip"
            assert response.headers["Content-Type"].startswith("text/plain; version=0.0.4")
            text = gzip.decompress(response.read()).decode()
    assert 'mlobs_collector_success{collector="dummy"} 1.0' in text


def test_an_included_snapshot_serves_every_scrape_and_a_change_to_it_shows() -> None:
    snapshot = FamilySet()
    snapshot.add(REQUESTS, 7, code="200")
    first, second = FamilySet(), FamilySet()
    for scrape in (first, second):
        scrape.add(UP, 1)
        scrape.include(snapshot)
    text = _render(first)
    assert _render(second) == text
    assert 'demo_requests_total{code="200"} 7.0' in text and "demo_up 1.0" in text
    snapshot.add(REQUESTS, 1, code="500")  # changing the snapshot drops its cached rendering
    assert 'demo_requests_total{code="500"} 1.0' in _render(first)


def test_a_family_in_both_the_scrape_and_a_snapshot_is_written_once() -> None:
    snapshot = FamilySet()
    snapshot.add(REQUESTS, 7, code="200")
    scrape = FamilySet()
    scrape.add(REQUESTS, 2, code="503")
    scrape.include(snapshot)
    text = _render(scrape)
    assert text.count("# TYPE demo_requests_total counter") == 1
    assert promtool_check_metrics(text) == ""
    values = {s.labels["code"]: s.value for f in text_string_to_metric_families(text) for s in f.samples}
    assert values == {"200": 7, "503": 2}

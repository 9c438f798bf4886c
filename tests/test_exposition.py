"""The exporter's own text-format renderer: parseable by prometheus-client and clean for promtool."""

from __future__ import annotations

import gzip
import math
import urllib.request

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily
from prometheus_client.parser import text_string_to_metric_families

from exporter.exposition import format_value, render
from tests.dummy_plugin import DummyPlugin
from tests.helpers import promtool_check_metrics, running_exporter


def _families() -> list[object]:
    gauge = GaugeMetricFamily("demo_temperature_celsius", 'Odd "help" with \\ and\nnewline.', labels=["name"])
    gauge.add_metric(['quote " back \\ nl \n end'], 41.5)
    gauge.add_metric(["plain"], float("nan"))
    counter = CounterMetricFamily("demo_requests", "Requests.", labels=["code"])
    counter.add_metric(["200"], 7)
    histogram = HistogramMetricFamily("demo_latency_seconds", "Latency.", labels=["api"])
    histogram.add_metric(["predict"], [("0.1", 2), ("1.27482", 5), ("+Inf", 6)], 3.25)
    bare = GaugeMetricFamily("demo_up", "Up.")
    bare.add_metric([], 1)
    return [gauge, counter, histogram, bare]


def test_render_round_trips_through_the_reference_parser() -> None:
    text = render(_families()).decode()  # type: ignore[arg-type]
    parsed = {f.name: f for f in text_string_to_metric_families(text)}
    assert parsed["demo_temperature_celsius"].documentation == 'Odd "help" with \\ and\nnewline.'
    first, second = parsed["demo_temperature_celsius"].samples
    assert first.labels == {"name": 'quote " back \\ nl \n end'} and first.value == 41.5
    assert math.isnan(second.value)
    assert parsed["demo_requests"].type == "counter"
    assert parsed["demo_requests"].samples[0].value == 7
    buckets = [s for s in parsed["demo_latency_seconds"].samples if s.name.endswith("_bucket")]
    assert [(s.labels["le"], s.value) for s in buckets] == [("0.1", 2), ("1.27482", 5), ("+Inf", 6)]
    assert parsed["demo_up"].samples[0].value == 1
    assert promtool_check_metrics(text) == ""


def test_format_value_matches_prometheus_spelling() -> None:
    assert format_value(1) == "1.0"
    assert format_value(-3) == "-3.0"
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

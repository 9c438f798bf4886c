"""The fleet benchmark cannot rot: its generator writes what the exporter really serves, within the
cardinality budget, and a small fleet on real engines gives the same alerts and answers in a global
VictoriaMetrics as in each cluster's Prometheus, with every rule group and panel query under a second."""

from __future__ import annotations

import re
import time
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

import alerts
import dashboards
from benchmarks.fleet import compare, measure, stack
from benchmarks.fleet.engines import EVALUATION_INTERVAL
from benchmarks.fleet.generate import ClusterHistory
from benchmarks.fleet.shape import (
    BUDGET_PER_GPU,
    BUDGET_PER_NODE,
    BUDGET_PER_SERVED_VERSION,
    BUDGET_PER_SERVING_POD,
    Faults,
    Fleet,
)
from benchmarks.harness import scrape_once, spawn_exporter, wait_ready
from bundle.promql import spec
from bundle.schema import BundleConfig, duration_seconds
from exporter.tfserving.simulator import TFServingSimulator
from tests.fixtures_tfserving import SimFactory
from tests.helpers import free_port, samples

TARGET_LABELS = frozenset({"job", "instance", "node"})
# Labels whose values are a fixed vocabulary: the generator must use the exporter's.
VOCABULARY = frozenset(
    {"reason", "direction", "error_type", "counter", "severity", "kind", "collector", "le"}
)
_SERIES = re.compile(r"^([a-zA-Z_:][\w:]*)\{(.*)\}$")
_LABEL = re.compile(r'(\w+)="([^"]*)"')

Shape = dict[str, set[tuple[frozenset[str], frozenset[tuple[str, str]]]]]


def _shape(series: Iterator[tuple[str, dict[str, str]]]) -> Shape:
    """Per metric: each series' label names and its vocabulary labels' values."""
    out: Shape = {}
    for name, labels in series:
        names = frozenset(labels) - TARGET_LABELS
        fixed = frozenset((k, v) for k, v in labels.items() if k in VOCABULARY)
        out.setdefault(name, set()).add((names, fixed))
    return out


def _generated(fleet: Fleet, node: int) -> list[tuple[str, dict[str, str]]]:
    history = ClusterHistory(fleet, 0, Faults(since=fleet.end + 3600))
    entities = history.entities()
    out = []
    for entity in entities:
        for prefix, _ in entity.series:
            found = _SERIES.match(prefix)
            assert found, prefix
            labels = dict(_LABEL.findall(found.group(2)))
            if labels.get("node") == f"gpu-node-{node:04d}" and labels.get("job") == "mlobs-exporter":
                out.append((found.group(1), labels))
    return out


@pytest.fixture(scope="module")
def small_fleet() -> Fleet:
    return Fleet(clusters=1, nodes=4, models=4, history=600, step=60, end=int(time.time()))


@pytest.fixture
def live_scrape(make_sim: SimFactory) -> Iterator[str]:
    """One scrape of a real exporter: the fake 8x H100 node and a simulated TF Serving pod."""
    sim: TFServingSimulator = make_sim()
    port = free_port()
    proc = spawn_exporter(
        [
            "--gpu.backend=fake",
            "--gpu.fake-scenario=h100-8x",
            "--collector.tfserving",
            f"--tfserving.target={sim.url}",
            "--tfserving.model=bert",
            "--tfserving.model=resnet",
        ],
        port,
    )
    try:
        url = f"http://127.0.0.1:{port}/metrics"
        wait_ready(url, proc)
        time.sleep(1.5)  # one XID-free utilization sample, as after any first scrape
        yield scrape_once(url).decode()
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def _live(text: str) -> list[tuple[str, dict[str, str]]]:
    return [(name, dict(labels)) for (name, labels) in samples(text)]


def test_generated_series_have_the_label_sets_of_a_live_exporter(
    live_scrape: str, small_fleet: Fleet
) -> None:
    live = _shape(iter(_live(live_scrape)))
    generated = _shape(iter(_generated(small_fleet, node=0)))
    differ = {
        name: (sorted(map(sorted, {n for n, _ in live[name]})), sorted(map(sorted, {n for n, _ in shapes})))
        for name, shapes in generated.items()
        if name in live and {n for n, _ in shapes} != {n for n, _ in live[name]}
    }
    assert not differ, f"label names differ from the live exporter's: {differ}"
    # The live exporter runs no attribution collector (no kubelet socket); a GPU node's does.
    not_running = {frozenset({("collector", "attribution")})}
    vocabulary = {
        name: sorted(({f for _, f in live[name]} ^ {f for _, f in shapes}) - not_running, key=sorted)
        for name, shapes in generated.items()
        if name in live and "_bucket" not in name
    }
    vocabulary = {name: values for name, values in vocabulary.items() if values}
    assert not vocabulary, f"fixed label values differ from the live exporter's: {vocabulary}"
    buckets = {dict(f)["le"] for _, f in live["tfserving_request_duration_seconds_bucket"]}
    assert buckets == {dict(f)["le"] for _, f in generated["tfserving_request_duration_seconds_bucket"]}


def test_every_live_gpu_and_serving_series_is_generated(live_scrape: str, small_fleet: Fleet) -> None:
    generated = {name for name, _ in _generated(small_fleet, node=0)}
    live = {name for name, _ in _live(live_scrape)}
    assert live - generated == set()


def test_generated_series_not_served_here_are_in_the_catalogue(small_fleet: Fleet) -> None:
    for name, labels in _generated(small_fleet, node=0):
        family = (
            re.sub(r"_(bucket|count|sum)$", "", name)
            if name.endswith(("_bucket", "_count", "_sum"))
            else name
        )
        declared = set(spec(family).labels) | TARGET_LABELS | ({"le"} if name.endswith("_bucket") else set())
        # The exporter's own node label on info series is dropped by the ServiceMonitor for the target's.
        assert set(labels) <= declared, (name, set(labels) - declared)


def test_the_exporter_stays_within_the_cardinality_budget(live_scrape: str) -> None:
    series = _live(live_scrape)
    per_gpu = Counter(labels["gpu"] for _, labels in series if "gpu" in labels)
    per_version = Counter(
        (labels["target"], labels["model"], labels.get("version"))
        for name, labels in series
        if name.startswith("tfserving_") and "model" in labels and labels.get("version")
    )
    per_pod = Counter(
        labels["target"] for name, labels in series if name.startswith("tfserving_") and "model" not in labels
    )
    node_level = [name for name, labels in series if "gpu" not in labels and "target" not in labels]
    assert len(per_gpu) == 8
    assert max(per_gpu.values()) <= BUDGET_PER_GPU
    assert max(per_version.values()) <= BUDGET_PER_SERVED_VERSION
    assert max(per_pod.values()) <= BUDGET_PER_SERVING_POD
    assert len(node_level) <= BUDGET_PER_NODE


def test_the_generator_stays_within_the_cardinality_budget(small_fleet: Fleet) -> None:
    series = _generated(small_fleet, node=1)
    per_gpu = Counter(labels["gpu"] for _, labels in series if "gpu" in labels)
    assert max(per_gpu.values()) <= BUDGET_PER_GPU


@pytest.mark.slow
def test_a_global_view_raises_the_alerts_and_answers_of_each_cluster_alone(
    tmp_path: Path, make_config: Callable[[dict[str, Any]], BundleConfig]
) -> None:
    cfg = make_config({"naming": {"cluster_label": "cluster"}})
    now = int(time.time())
    fleet = Fleet(clusters=3, nodes=8, models=10, history=3600 + 900, step=60, end=now + 900)
    with stack.running(fleet, Faults(since=now - 300), cfg, tmp_path) as running:
        assert running.vm is not None and running.vmalert is not None
        # vmalert reads a record back from VictoriaMetrics an evaluation after writing it: an SLO burn alert
        # (records of records) fires there a few evaluations after it does in Prometheus.
        running.wait_evaluated(times=5, seconds=180)
        only_prometheus, only_vmalert = compare.alert_difference(
            running.prometheus, running.vmalert, "cluster", compare.slo_history_alerts(alerts.build(cfg))
        )
        assert (only_prometheus, only_vmalert) == (set(), set())
        boards = dashboards.build(cfg)
        compared, mismatches = compare.answer_mismatches(
            boards, running.prometheus, running.vm, "cluster", time.time()
        )
        assert compared > 0
        unknown = [m for m in mismatches if not m.known]
        assert unknown == [], sorted({f"{m.dashboard} / {m.title}: {m.detail}" for m in unknown})
        for engine in (*running.prometheus.values(), running.vmalert):
            slow = {g: s for g, s in measure.rule_group_seconds(engine).items() if s >= 1}
            assert slow == {}, f"{engine.name}: rule groups over 1 s"
        # The bench's steady-state timing of vmalert: one more iteration of every group, each timed.
        interval = duration_seconds(EVALUATION_INTERVAL)
        iterations = measure.slowest_vmalert_iterations(running.vmalert, 1, interval)
        assert iterations.keys() == measure.rule_group_seconds(running.vmalert).keys()
        assert all(0 < seconds < 1 for seconds in iterations.values()), iterations
        timed = measure.time_queries(running.vm, boards, {"cluster": ".+"}, measure.dashboard_range(cfg), 60)
        assert [t for t in timed if t.error or t.seconds >= 1] == []

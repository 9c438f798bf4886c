"""Autoscaling on GPU utilization: prometheus-adapter's query, with its templates filled as the adapter fills
them, gives each pod the utilization of its GPUs in a real Prometheus holding attributed series."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest
from kubernetes.client import ApiClient

from bundle.schema import BundleConfig
from bundle.shipping import load_shipping
from servicemonitors.autoscaling import ALLOCATION, BUSY, adapter_rules, example_hpa, metrics_query
from tests.fixtures_bundle import instant_query, run_tool, running_prometheus, tool

JOB = 'job="mlobs-exporter"'
STEP, POINTS = 15, 41  # ten minutes of samples
# GPU -> busy seconds per second (its utilization).
GPUS = {"GPU-a": 0.5, "GPU-b": 0.9, "GPU-c": 0.3, "GPU-d": 0.4, "GPU-e": 1.0}
# (namespace, pod, GPU): fraud-1 holds two GPUs; other-0 and other-1 share GPU-d (time-slicing).
ALLOCATIONS = [
    ("serving", "fraud-0", "GPU-a"),
    ("serving", "fraud-1", "GPU-b"),
    ("serving", "fraud-1", "GPU-c"),
    ("serving", "other-0", "GPU-d"),
    ("serving", "other-1", "GPU-d"),
    ("training", "fraud-0", "GPU-e"),
]


def openmetrics(end: int) -> str:
    start = end - (POINTS - 1) * STEP
    lines = [f"# TYPE {BUSY.removesuffix('_total')} counter"]
    for index, (uuid, ratio) in enumerate(GPUS.items()):
        labels = f'{JOB},uuid="{uuid}",gpu="{index}"'
        lines += [f"{BUSY}{{{labels}}} {ratio * i * STEP} {start + i * STEP}" for i in range(POINTS)]
    lines.append(f"# TYPE {ALLOCATION} gauge")
    for namespace, pod, uuid in ALLOCATIONS:
        labels = (
            f'{JOB},uuid="{uuid}",gpu="0",mig_uuid="",namespace="{namespace}",pod="{pod}",'
            'container="server",resource="nvidia.com/gpu"'
        )
        lines += [f"{ALLOCATION}{{{labels}}} 1 {start + i * STEP}" for i in range(POINTS)]
    return "\n".join([*lines, "# EOF", ""])


def filled(template: str, namespace: str, pods: list[str]) -> str:
    """The template as prometheus-adapter fills it for `pods/<metric>` in one namespace."""
    matchers = f'namespace="{namespace}",pod=~"{"|".join(pods)}"'
    return (
        template.replace("<<.Series>>", ALLOCATION)
        .replace("<<.LabelMatchers>>", matchers)
        .replace("<<.GroupBy>>", "pod")
    )


@pytest.mark.slow
def test_each_pod_gets_the_utilization_of_its_gpus(tmp_path: Path, bundle_config: BundleConfig) -> None:
    end = int(time.time()) // 3600 * 3600 - 3600
    source = tmp_path / "series.om"
    source.write_text(openmetrics(end))
    backfill = run_tool(
        [tool("promtool"), "tsdb", "create-blocks-from", "openmetrics", str(source), "data"], tmp_path
    )
    assert backfill.returncode == 0, backfill.stdout + backfill.stderr
    query = filled(
        metrics_query(bundle_config, load_shipping().autoscaling),
        "serving",
        ["fraud-0", "fraud-1", "other-0", "other-1"],
    )
    with running_prometheus([], tmp_path) as url:
        result = instant_query(url, query, end)
    by_pod = {labels["pod"]: round(value, 6) for labels, value in result}
    assert by_pod == {"fraud-0": 0.5, "fraud-1": 0.6, "other-0": 0.4, "other-1": 0.4}


def test_adapter_rule_names_the_metric_and_maps_pods(bundle_config: BundleConfig) -> None:
    autoscaling = load_shipping().autoscaling
    (rule,) = adapter_rules(bundle_config, autoscaling)["rules"]
    assert rule["name"]["as"] == autoscaling.metric_name
    assert rule["seriesQuery"].startswith(f"{ALLOCATION}{{")
    assert rule["resources"]["overrides"]["pod"] == {"resource": "pod"}
    for template in ("<<.Series>>", "<<.LabelMatchers>>", "<<.GroupBy>>"):
        assert template in rule["metricsQuery"]


def test_example_hpa_targets_the_metric_as_a_quantity() -> None:
    autoscaling = load_shipping().autoscaling
    hpa = example_hpa(autoscaling)
    (metric,) = hpa["spec"]["metrics"]
    assert metric["pods"]["metric"]["name"] == autoscaling.metric_name
    assert metric["pods"]["target"] == {"type": "AverageValue", "averageValue": "800m"}
    assert hpa["spec"]["scaleTargetRef"]["name"] == autoscaling.example_deployment
    api = ApiClient()
    model = api.deserialize(json.dumps(hpa), "V2HorizontalPodAutoscaler", "application/json")
    assert api.sanitize_for_serialization(model) == hpa  # no misspelt or misplaced field

"""The GPU node and GPU fleet dashboards: every per-GPU series, thresholds from the config, attribution rows
as configured, and the fleet's allocated-but-idle and health views."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from alerts import panels as panel_records
from bundle.promql import UnknownMetricError
from bundle.promql import _catalogue as promql_catalogue
from bundle.schema import BundleConfig
from dashboards import gpu_fleet, gpu_node, gpu_readings
from dashboards.gpu import metrics
from dashboards.lint import lint, panels, promql
from dashboards.queries import promtool_parse
from tests.fixtures_bundle import tool


@pytest.fixture(scope="module")
def board(bundle_config: BundleConfig) -> dict[str, Any]:
    return gpu_node.build(bundle_config)


@pytest.fixture(scope="module")
def fleet(bundle_config: BundleConfig) -> dict[str, Any]:
    return gpu_fleet.build(bundle_config)


def by_title(board: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {p["title"]: p for p in panels(board)}


def exprs(panel: dict[str, Any]) -> list[str]:
    return [t["expr"] for t in panel["targets"]]


def test_gpu_panels_cover_efficiency_and_health(board: dict[str, Any]) -> None:
    titled = by_title(board)
    assert {
        "GPU utilization",
        "GPU busy ratio",
        "GPU memory used",
        "GPU temperature",
        "GPU power",
        "Clock throttle reasons",
        "XID errors",
        "GPU health",
        "GPU collection",
    } <= set(titled)
    busy = titled["GPU busy ratio"]["targets"][0]["expr"]
    assert busy.startswith("rate(nvidia_gpu_busy_seconds_total{") and busy.endswith("[$__rate_interval])")
    assert 'gpu=~"$gpu"' in busy and 'node=~"$node"' in busy


def test_target_band_and_temperature_thresholds_come_from_the_config(
    make_config: Callable[[dict[str, Any]], BundleConfig],
) -> None:
    cfg = make_config(
        {
            "gpu": {
                "utilization_target_low": 0.6,
                "utilization_target_high": 0.85,
                "temperature_warning_celsius": 80,
                "temperature_critical_celsius": 88,
            }
        }
    )
    titled = by_title(gpu_node.build(cfg))

    def steps(title: str) -> list[Any]:
        return [s["value"] for s in titled[title]["fieldConfig"]["defaults"]["thresholds"]["steps"]]

    assert steps("GPU utilization") == [None, 0.6, 0.85]
    assert steps("GPU busy ratio") == [None, 0.6, 0.85]
    assert steps("GPU temperature") == [None, 80.0, 88.0]
    assert (
        titled["GPU utilization"]["fieldConfig"]["defaults"]["custom"]["thresholdsStyle"]["mode"]
        == "line+area"
    )


def rows_and_titles(board: dict[str, Any]) -> dict[str, list[str]]:
    """Each row's title -> the titles of the panels that follow it."""
    out: dict[str, list[str]] = {}
    for panel in board["panels"]:
        if panel["type"] == "row":
            current = out.setdefault(panel["title"], [])
        else:
            current.append(panel["title"])
    return out


def test_attribution_row_follows_the_gpu_row_by_default(board: dict[str, Any]) -> None:
    sections = rows_and_titles(board)
    curated = [title for title in sections if title != gpu_readings.TITLE]  # the catalogue's extra row
    expected = ["GPUs", "GPU details", "Memory errors and the driver", "MIG", "GPU attribution", "Exporter"]
    assert curated == expected
    assert sections["GPU attribution"] == [
        "GPUs per namespace",
        "GPUs per pod",
        "GPU utilization by pod",
        "Models on GPUs",
        "Attribution sources",
    ]


def test_per_pod_panels_appear_with_per_process_attribution(
    make_config: Callable[[dict[str, Any]], BundleConfig],
) -> None:
    board = gpu_node.build(make_config({"attribution": {"per_process": True}}))
    assert lint(board) == []
    titles = rows_and_titles(board)["GPU attribution"]
    assert {"GPU memory by pod on shared GPUs", "SM utilization by pod on shared GPUs"} <= set(titles)
    memory = by_title(board)["GPU memory by pod on shared GPUs"]["targets"][0]["expr"]
    assert memory.startswith("nvidia_gpu_pod_memory_used_bytes{") and 'pod_uid=~".+"' in memory


def test_no_attribution_row_without_attribution(
    make_config: Callable[[dict[str, Any]], BundleConfig],
) -> None:
    board = gpu_node.build(make_config({"attribution": {"enabled": False}}))
    assert "GPU attribution" not in rows_and_titles(board)
    assert not any("nvidia_gpu_allocation_info" in expr for expr in promql(board))


def test_attribution_queries_use_the_configured_node_label(
    make_config: Callable[[dict[str, Any]], BundleConfig],
) -> None:
    board = gpu_node.build(
        make_config({"naming": {"node_label": "host"}, "attribution": {"per_process": True}})
    )
    utilization = by_title(board)["GPU utilization by pod"]["targets"][0]
    assert "group by (namespace, pod, uuid, gpu, host)" in utilization["expr"]
    assert utilization["legendFormat"].endswith("on {{host}}")
    assert promtool_parse(promql(board), tool("promtool")) == {}


def test_a_grouping_label_the_catalogue_lacks_fails_the_build(bundle_config: BundleConfig) -> None:
    m = metrics(bundle_config)
    assert m.by("nvidia_gpu_allocation_info", "namespace", "node") == "namespace, node"
    with pytest.raises(UnknownMetricError, match="nvidia_gpu_allocation_info: has no label 'model'"):
        m.by("nvidia_gpu_allocation_info", "namespace", "model")


def test_every_per_gpu_series_of_the_catalogue_is_drawn(board: dict[str, Any]) -> None:
    from exporter.catalogue import by_name

    drawn = " ".join(promql(board))
    per_gpu = [s.name for s in by_name().values() if "uuid" in s.labels and s.collector == "gpu"]
    assert per_gpu and [name for name in per_gpu if name not in drawn] == []


def test_a_gpu_reading_without_a_curated_panel_is_drawn_from_the_catalogue(
    bundle_config: BundleConfig, monkeypatch: pytest.MonkeyPatch
) -> None:
    from exporter.catalogue.spec import MetricSpec
    from exporter.gpu import catalogue

    added = (
        MetricSpec("nvidia_gpu_hbm_celsius", "gauge", "HBM heat.", ("gpu", "uuid"), "celsius", "gpu"),
        MetricSpec("nvidia_gpu_stalls_total", "counter", "Stalls.", ("gpu", "uuid"), "", "gpu"),
        MetricSpec("nvidia_gpu_lanes", "gauge", "Lanes by link.", ("gpu", "uuid", "link"), "", "gpu"),
    )
    monkeypatch.setattr(catalogue, "METRICS", (*catalogue.METRICS, *added))
    promql_catalogue.cache_clear()  # bundle.promql checks every name against the catalogue
    try:
        board = gpu_node.build(bundle_config)
    finally:
        monkeypatch.undo()
        promql_catalogue.cache_clear()
    row = [p["title"] for p in board["panels"] if p["type"] == "row"]
    assert row[-2:] == [gpu_readings.TITLE, "Exporter"]
    titled = by_title(board)
    hbm, stalls = titled["Hbm"], titled["Stalls"]
    assert (
        exprs(hbm)[0].startswith("nvidia_gpu_hbm_celsius{")
        and hbm["fieldConfig"]["defaults"]["unit"] == "celsius"
    )
    assert (
        exprs(stalls)[0].startswith("rate(nvidia_gpu_stalls_total{")
        and "$__rate_interval" in exprs(stalls)[0]
    )
    assert "Lanes" not in titled  # a label beyond gpu and uuid needs a curated panel
    assert lint(board) == []


def test_mig_instances_and_memory(board: dict[str, Any]) -> None:
    titled = by_title(board)
    assert "nvidia_gpu_mig_instance_info{" in exprs(titled["MIG instances"])[0]
    assert exprs(titled["MIG memory used"])[0].startswith("nvidia_gpu_mig_memory_used_bytes{")


def _record_expr(cfg: BundleConfig, name: str) -> str:
    (rule,) = [r for g in panel_records.gpu_groups(cfg) for r in g.rules if getattr(r, "record", "") == name]
    return str(rule.expr)


def test_fleet_counts_allocated_gpus_below_the_target_from_a_record_of_the_allocations(
    fleet: dict[str, Any], bundle_config: BundleConfig, make_config: Callable[[dict[str, Any]], BundleConfig]
) -> None:
    record = panel_records.allocated_busy_record(bundle_config)
    (idle,) = exprs(by_title(fleet)["Allocated GPUs below target"])
    assert idle == f'count(({record}{{node=~"$node"}}) < 0.7) or vector(0)'
    assert "nvidia_gpu_allocation_info{" in _record_expr(bundle_config, record)
    without = make_config({"attribution": {"enabled": False}, "gpu": {"allocated_memory_ratio": 0.1}})
    allocated = _record_expr(without, panel_records.allocated_busy_record(without))
    assert "nvidia_gpu_allocation_info" not in allocated and "> 0.1" in allocated
    assert "Power by namespace" not in by_title(gpu_fleet.build(without))


def test_fleet_health_reads_the_alerts_keys(make_config: Callable[[dict[str, Any]], BundleConfig]) -> None:
    cfg = make_config({"gpu": {"bad_throttle_reasons": ["hw_slowdown"]}})
    fleet = by_title(gpu_fleet.build(cfg))
    (throttled,) = exprs(fleet["Throttled GPUs by reason"])
    record = panel_records.node_throttled_record()
    assert throttled.startswith(f"{record}{{") and 'reason=~"hw_slowdown"' in _record_expr(cfg, record)
    ecc = exprs(fleet["Uncorrectable ECC errors and row remaps by node"])[0]
    record = panel_records.node_ecc_record(cfg)
    assert ecc.startswith(f"{record}{{") and 'error_type="uncorrected", counter="volatile"' in _record_expr(
        cfg, record
    )


def test_energy_by_namespace_sums_a_recorded_join_of_the_allocations_on_uuid(
    fleet: dict[str, Any], bundle_config: BundleConfig
) -> None:
    (power,) = exprs(by_title(fleet)["Power by namespace"])
    record = panel_records.namespace_power_record(bundle_config)
    assert power.startswith(f"sum by (namespace) ({record}{{")
    (joined,) = [
        r
        for g in panel_records.gpu_groups(bundle_config)
        for r in g.rules
        if getattr(r, "record", "") == record
    ]
    assert (
        "* on (uuid) group_left ()" in joined.expr and "rate(nvidia_gpu_energy_joules_total{" in joined.expr
    )
    assert lint(fleet) == []

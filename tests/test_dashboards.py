"""The ml-overview dashboard: house-style lint, every query parsed by Prometheus' parser, config-driven."""

from __future__ import annotations

import copy
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from bundle.promql import UnknownMetricError
from bundle.schema import BundleConfig
from dashboards import build, overview
from dashboards.gpu import metrics
from dashboards.lint import lint, lint_expr, panels, promql
from dashboards.style import Panel, Query
from tests.fixtures_bundle import run_tool, tool


@pytest.fixture(scope="module")
def board(bundle_config: BundleConfig) -> dict[str, Any]:
    return overview.build(bundle_config)


def by_title(board: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {p["title"]: p for p in panels(board)}


def promtool_check_exprs(exprs: list[str], folder: Path) -> tuple[int, str]:
    """Hand each expression to `promtool check rules` as a recording rule: Prometheus' parser decides."""
    rules = [{"record": f"dashboard:query_{i}:check", "expr": expr} for i, expr in enumerate(exprs)]
    path = folder / "dashboard-queries.yaml"
    path.write_text(
        yaml.safe_dump({"groups": [{"name": "dashboard-queries", "rules": rules}]}), encoding="utf-8"
    )
    result = run_tool([tool("promtool"), "check", "rules", str(path)])
    return result.returncode, result.stdout + result.stderr


def test_overview_is_one_of_the_built_dashboards(bundle_config: BundleConfig, board: dict[str, Any]) -> None:
    assert [d["uid"] for d in build(bundle_config)] == ["ml-overview"]
    assert board["title"] == "ML platform overview"


def test_overview_follows_the_dashboard_conventions(board: dict[str, Any]) -> None:
    assert lint(board) == []


def test_every_query_parses_as_promql(board: dict[str, Any], tmp_path: Path) -> None:
    exprs = promql(board)
    assert len(exprs) >= 12  # every target plus the variables' selectors
    assert not any("$" in e for e in exprs), exprs
    code, output = promtool_check_exprs(exprs, tmp_path)
    assert code == 0, output


def test_the_parser_check_can_fail(tmp_path: Path) -> None:
    code, output = promtool_check_exprs(["rate(nvidia_gpu_busy_seconds_total[5m]"], tmp_path)
    assert code != 0 and "parse error" in output


def test_variables_are_node_and_gpu_refreshing_on_time_change(board: dict[str, Any]) -> None:
    variables = {v["name"]: v for v in board["templating"]["list"]}
    assert list(variables) == ["datasource", "node", "gpu"]
    assert variables["datasource"]["label"] == "Data source"
    for name in ("node", "gpu"):
        assert (variables[name]["refresh"], variables[name]["multi"], variables[name]["allValue"]) == (
            2,
            True,
            ".+",
        )
    assert variables["node"]["query"] == 'label_values(nvidia_gpu_info{job="mlobs-exporter"}, node)'
    assert 'node=~"$node"' in variables["gpu"]["query"]


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
    titled = by_title(overview.build(cfg))

    def steps(title: str) -> list[Any]:
        return [s["value"] for s in titled[title]["fieldConfig"]["defaults"]["thresholds"]["steps"]]

    assert steps("GPU utilization") == [None, 0.6, 0.85]
    assert steps("GPU busy ratio") == [None, 0.6, 0.85]
    assert steps("GPU temperature") == [None, 80.0, 88.0]
    assert (
        titled["GPU utilization"]["fieldConfig"]["defaults"]["custom"]["thresholdsStyle"]["mode"]
        == "line+area"
    )


def test_panels_tile_the_grid_without_overlap(board: dict[str, Any]) -> None:
    cells: set[tuple[int, int]] = set()
    for panel in panels(board):
        pos = panel["gridPos"]
        assert pos["x"] + pos["w"] <= 24
        area = {
            (x, y) for x in range(pos["x"], pos["x"] + pos["w"]) for y in range(pos["y"], pos["y"] + pos["h"])
        }
        assert not area & cells, panel["title"]
        cells |= area
    rows = [p for p in board["panels"] if p["type"] == "row"]
    assert rows and all(not row["panels"] and not row["collapsed"] for row in rows)


def test_datasource_and_units_are_set_on_every_panel(board: dict[str, Any]) -> None:
    for panel in panels(board):
        if panel["type"] != "row":
            assert panel["datasource"] == {"type": "prometheus", "uid": "${datasource}"}
            assert panel["fieldConfig"]["defaults"]["unit"]
            assert all(t["datasource"]["uid"] == "${datasource}" for t in panel["targets"])


@pytest.mark.parametrize(
    ("expr", "problem"),
    [
        ("nvidia_gpu_busy_seconds_total", "outside rate()"),
        ("sum(nvidia_gpu_xid_errors_total)", "outside rate()"),
        ("rate(nvidia_gpu_busy_seconds_total[5m])", "must use $__rate_interval"),
        ("increase(nvidia_gpu_xid_errors_total[1h])", "must use $__rate_interval"),
    ],
)
def test_expression_lint_flags_counter_misuse(expr: str, problem: str) -> None:
    assert any(problem in p for p in lint_expr(expr))


def test_expression_lint_accepts_counters_inside_rate() -> None:
    assert (
        lint_expr('sum by (gpu) (rate(nvidia_gpu_busy_seconds_total{gpu=~"$gpu"}[$__rate_interval]))') == []
    )


@pytest.mark.parametrize(
    ("mutate", "problem"),
    [
        (lambda b: b.update(editable=True), "editable must be false"),
        (lambda b: b.update(schemaVersion=12), "schemaVersion"),
        (lambda b: b["templating"]["list"][1].update(refresh=1), "refresh: 2"),
        (lambda b: b["templating"]["list"][1].update(allValue=None), "allValue"),
        (lambda b: b["templating"]["list"].pop(0), "datasource variable"),
        (lambda b: b["panels"][1].update(datasource="Prometheus"), "datasource must be"),
        (lambda b: b["panels"][1].update(description=""), "description missing"),
        (lambda b: b["panels"][1]["fieldConfig"]["defaults"].pop("unit"), "unit missing"),
        (lambda b: b["panels"][1].update(targets=[]), "no targets"),
        (lambda b: b["panels"][2].update(id=b["panels"][1]["id"]), "unique"),
    ],
)
def test_dashboard_lint_flags_each_broken_rule(
    board: dict[str, Any], mutate: Callable[[dict[str, Any]], Any], problem: str
) -> None:
    broken = copy.deepcopy(board)
    mutate(broken)
    assert any(problem in p for p in lint(broken)), lint(broken)


def test_house_style_refuses_a_panel_without_unit_or_description() -> None:
    with pytest.raises(ValueError, match="title, description, unit and a query are required"):
        Panel("timeseries", "Power", "", "watt", (Query("vector(1)", "x"),))
    with pytest.raises(ValueError, match="required"):
        Panel("timeseries", "Power", "Power draw.", "", (Query("vector(1)", "x"),))


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
    assert list(sections) == ["GPUs", "GPU attribution"]
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
    board = overview.build(make_config({"attribution": {"per_process": True}}))
    assert lint(board) == []
    titles = rows_and_titles(board)["GPU attribution"]
    assert {"GPU memory by pod on shared GPUs", "SM utilization by pod on shared GPUs"} <= set(titles)
    memory = by_title(board)["GPU memory by pod on shared GPUs"]["targets"][0]["expr"]
    assert memory.startswith("nvidia_gpu_pod_memory_used_bytes{") and 'pod_uid=~".+"' in memory


def test_no_attribution_row_without_attribution(
    make_config: Callable[[dict[str, Any]], BundleConfig],
) -> None:
    board = overview.build(make_config({"attribution": {"enabled": False}}))
    assert list(rows_and_titles(board)) == ["GPUs"]
    assert not any("nvidia_gpu_allocation_info" in expr for expr in promql(board))


def test_attribution_queries_use_the_configured_node_label(
    make_config: Callable[[dict[str, Any]], BundleConfig], tmp_path: Path
) -> None:
    board = overview.build(
        make_config({"naming": {"node_label": "host"}, "attribution": {"per_process": True}})
    )
    utilization = by_title(board)["GPU utilization by pod"]["targets"][0]
    assert "group by (namespace, pod, uuid, gpu, host)" in utilization["expr"]
    assert utilization["legendFormat"].endswith("on {{host}}")
    code, output = promtool_check_exprs(promql(board), tmp_path)
    assert code == 0, output


def test_a_grouping_label_the_catalogue_lacks_fails_the_build(bundle_config: BundleConfig) -> None:
    m = metrics(bundle_config)
    assert m.by("nvidia_gpu_allocation_info", "namespace", "node") == "namespace, node"
    with pytest.raises(UnknownMetricError, match="nvidia_gpu_allocation_info: has no label 'model'"):
        m.by("nvidia_gpu_allocation_info", "namespace", "model")

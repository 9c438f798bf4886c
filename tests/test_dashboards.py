"""Every generated dashboard: clean under our lint, every query parsed by Prometheus' parser in one promtool
call, its variables, layout and links as the conventions want, and the same bytes for the same config."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from bundle.schema import BundleConfig
from dashboards import build
from dashboards.lint import lint, lint_all, panels, promql
from dashboards.queries import KnownSeries, all_values, panel_queries, promtool_parse, substitute
from dashboards.style import to_json
from tests.fixtures_bundle import tool

UIDS = ["ml-overview", "ml-serving", "ml-models", "ml-gpu-fleet", "ml-gpu-node"]
# The variables each dashboard needs, in order (a single-cluster config: no cluster variable).
VARIABLES = {
    "ml-overview": ["datasource", "node"],
    "ml-serving": ["datasource", "namespace", "model", "version"],
    "ml-models": ["datasource", "model", "version", "experiment"],
    "ml-gpu-fleet": ["datasource", "node"],
    "ml-gpu-node": ["datasource", "node", "gpu"],
}


@pytest.fixture(scope="module")
def boards(bundle_config: BundleConfig) -> dict[str, dict[str, Any]]:
    return {board["uid"]: board for board in build(bundle_config)}


def every_expr(boards: list[dict[str, Any]]) -> list[str]:
    return [e for board in boards for e in promql(board)]


def test_five_dashboards_with_stable_uids(boards: dict[str, dict[str, Any]]) -> None:
    assert list(boards) == UIDS
    assert boards["ml-overview"]["title"] == "ML platform overview"


def test_every_dashboard_is_clean_under_the_lint_and_promtool(
    bundle_config: BundleConfig, boards: dict[str, dict[str, Any]]
) -> None:
    known = KnownSeries(bundle_config)
    assert {uid: lint(board, known) for uid, board in boards.items()} == {uid: [] for uid in UIDS}
    assert lint_all(list(boards.values()), known, tool("promtool")) == []


def test_every_query_of_every_dashboard_parses_in_one_promtool_call(
    boards: dict[str, dict[str, Any]],
) -> None:
    exprs = every_expr(list(boards.values()))
    assert len(exprs) > 100
    assert not any("$" in e for e in exprs)
    assert promtool_parse(exprs, tool("promtool")) == {}


# Variables without an All option (dashboards/gpu_node.py): at 1,000 nodes All draws 8,000 GPUs per panel.
OPEN_AT_FIRST_VALUE = {("ml-gpu-node", "node")}


def test_queries_parse_with_one_value_chosen_per_variable(boards: dict[str, dict[str, Any]]) -> None:
    exprs = []
    for board in boards.values():
        values = {**all_values(board), **{name: ["a.b", "c"] for name in all_values(board)}}
        exprs += [substitute(expr, values, rate_interval="20s") for _, expr in panel_queries(board)]
    assert any('=~"(a\\\\.b|c)"' in e for e in exprs)
    assert promtool_parse(exprs, tool("promtool")) == {}


@pytest.mark.parametrize("uid", UIDS)
def test_variables_refresh_on_time_change_and_match_everything_for_all(
    boards: dict[str, dict[str, Any]], uid: str
) -> None:
    variables = boards[uid]["templating"]["list"]
    assert [v["name"] for v in variables] == VARIABLES[uid]
    for variable in variables[1:]:
        opens_at_all = (uid, variable["name"]) not in OPEN_AT_FIRST_VALUE
        assert (variable["refresh"], variable["multi"], variable["includeAll"]) == (2, True, opens_at_all)
        assert variable["allValue"] in (".+", ".*")


def test_the_per_node_dashboard_opens_at_one_node(boards: dict[str, dict[str, Any]]) -> None:
    node = next(v for v in boards["ml-gpu-node"]["templating"]["list"] if v["name"] == "node")
    assert not node["includeAll"] and node["current"]["value"] is None  # Grafana picks the first node


def test_labels_that_may_be_absent_keep_their_series_under_all(boards: dict[str, dict[str, Any]]) -> None:
    serving = {v["name"]: v["allValue"] for v in boards["ml-serving"]["templating"]["list"][1:]}
    assert serving == {"namespace": ".*", "model": ".+", "version": ".*"}


@pytest.mark.parametrize("uid", UIDS)
def test_links_reach_every_sibling_dashboard(boards: dict[str, dict[str, Any]], uid: str) -> None:
    links = boards[uid]["links"]
    assert sorted(link["url"] for link in links) == sorted(f"/d/{u}" for u in UIDS if u != uid)
    assert all(link["keepTime"] and link["includeVars"] for link in links)


@pytest.mark.parametrize("uid", UIDS)
def test_every_panel_has_a_unit_title_description_and_the_datasource_variable(
    boards: dict[str, dict[str, Any]], uid: str
) -> None:
    for panel in panels(boards[uid]):
        if panel["type"] == "row":
            continue
        assert panel["title"] and panel["description"]
        assert panel["fieldConfig"]["defaults"]["unit"]
        assert panel["datasource"] == {"type": "prometheus", "uid": "${datasource}"}
        assert all(t["datasource"]["uid"] == "${datasource}" for t in panel["targets"])


@pytest.mark.parametrize("uid", UIDS)
def test_every_rate_uses_the_rate_interval(boards: dict[str, dict[str, Any]], uid: str) -> None:
    for title, expr in panel_queries(boards[uid]):
        for window in expr.split("[")[1:]:
            assert window.startswith("$__rate_interval]"), (title, expr)


def test_generation_is_deterministic(bundle_config: BundleConfig) -> None:
    assert [to_json(b) for b in build(bundle_config)] == [to_json(b) for b in build(bundle_config)]


def test_a_cluster_label_adds_the_variable_and_filters_and_groups_every_query(
    make_config: Callable[[dict[str, Any]], BundleConfig],
) -> None:
    cfg = make_config({"naming": {"cluster_label": "cluster"}})
    known = KnownSeries(cfg)
    for board in build(cfg):
        variables = board["templating"]["list"]
        assert variables[1]["name"] == "cluster", board["uid"]
        assert 'cluster=~"$cluster"' not in variables[1]["query"]
        assert lint(board, known) == []
        for title, expr in panel_queries(board):
            if title == "variable cluster":
                continue
            assert 'cluster=~"$cluster"' in expr, (board["uid"], title, expr)
            for clause in ("by (", "on ("):
                for part in expr.split(clause)[1:]:
                    assert part.startswith(("cluster", "le)", ")")), (board["uid"], title, expr)
    assert promtool_parse(every_expr(build(cfg)), tool("promtool")) == {}


@pytest.mark.parametrize(
    "override",
    [
        {"attribution": {"per_process": True}},
        {"attribution": {"enabled": False}},
        {"serving": {"job": "tf-serving", "collect_on_gpu_nodes": False}},
        {"naming": {"node_label": "host", "job_label": "scrape_job", "alert_prefix": "Acme"}},
        {"models": {"overrides": {"ranking": {"slo": {"latency_objective": 0.95}}}}},
        {
            "quality": {"metrics": {"auc": {"direction": "higher_is_better", "tolerance": 0.02}}},
            "drift": {"metrics": {"psi": {"direction": "higher_is_worse", "warning": 0.2, "critical": 0.3}}},
        },
    ],
)
def test_every_config_variant_gives_clean_dashboards(
    make_config: Callable[[dict[str, Any]], BundleConfig], override: dict[str, Any]
) -> None:
    cfg = make_config(override)
    assert lint_all(build(cfg), KnownSeries(cfg), tool("promtool")) == []

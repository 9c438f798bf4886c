"""The panel-query extraction and Grafana's substitutions that the live dashboard proof relies on."""

from __future__ import annotations

from collections.abc import Mapping

import pytest

import dashboards
from bundle.schema import BundleConfig
from tests.dashboard_queries import (
    Intervals,
    Variable,
    all_values,
    concrete_values,
    escape,
    label_values_query,
    queries,
    substitute,
    variables,
)

INTERVALS = Intervals(interval="2s", rate_interval="10s", range_seconds=300)
BOARD = {
    "uid": "ml-test",
    "templating": {
        "list": [
            {"name": "datasource", "type": "datasource", "query": "prometheus"},
            {"name": "node", "type": "query", "query": "label_values(nvidia_gpu_info, node)"},
            {"name": "gpu", "type": "query", "query": {"query": 'label_values(info{node=~"$node"}, gpu)'}},
        ]
    },
    "panels": [
        {"type": "row", "title": "GPUs", "panels": [
            {"title": "Nested", "targets": [{"refId": "A", "expr": 'up{node=~"$node"}'}]},
        ]},
        {"title": "Busy", "targets": [
            {"refId": "A", "expr": 'rate(busy_total{gpu=~"${gpu}"}[$__rate_interval])'},
            {"refId": "B", "expr": ""},
        ]},
    ],
}  # fmt: skip


def test_every_target_with_an_expression_of_every_panel_nested_rows_included() -> None:
    assert [(q.panel, q.ref) for q in queries(BOARD)] == [("Nested", "A"), ("Busy", "A")]
    assert str(queries(BOARD)[0]) == "ml-test / Nested / A"


def test_variables_in_order_with_either_query_form() -> None:
    assert variables(BOARD) == [
        Variable("datasource", "datasource", "prometheus"),
        Variable("node", "query", "label_values(nvidia_gpu_info, node)"),
        Variable("gpu", "query", 'label_values(info{node=~"$node"}, gpu)'),
    ]


def test_all_sets_every_variable_to_the_all_value_and_grafana_fills_its_intervals() -> None:
    expr = queries(BOARD)[1].expr
    assert substitute(expr, all_values(variables(BOARD)), INTERVALS) == 'rate(busy_total{gpu=~".+"}[10s])'
    assert substitute("x[$__interval] / $__range_s or y[$__range]", {}, INTERVALS) == "x[2s] / 300 or y[300s]"


def test_an_unknown_variable_is_an_error_not_an_empty_string() -> None:
    with pytest.raises(KeyError, match=r"\$model"):
        substitute('x{model=~"$model"}', {"node": ".+"}, INTERVALS)


def test_concrete_values_are_regex_escaped_as_grafana_does() -> None:
    assert escape("gpu-node-1") == "gpu-node-1"
    assert escape("a.b+c") == r"a\\.b\\+c"


def test_label_values_in_both_forms_and_nothing_else() -> None:
    assert label_values_query('label_values(up{job=~"a"}, instance)') == ('up{job=~"a"}', "instance")
    assert label_values_query("label_values(node)") == (None, "node")
    with pytest.raises(ValueError, match="unsupported"):
        label_values_query("query_result(up)")


def test_concrete_values_follow_earlier_variables_and_pick_one_that_shows_data() -> None:
    asked: list[tuple[str | None, str]] = []

    def label_values(selector: str | None, label: str) -> list[str]:
        asked.append((selector, label))
        return {"node": ["n2", "n1"], "gpu": ["0", "7"]}[label]

    def shows(values: Mapping[str, str]) -> bool:
        return values["gpu"] in (".+", "7")  # only GPU 7 has data, on either node

    chosen = concrete_values(variables(BOARD), label_values, INTERVALS, shows)
    assert chosen == {"node": "n1", "gpu": "7"}
    assert asked == [("nvidia_gpu_info", "node"), ('info{node=~"n1"}', "gpu")]


def test_without_a_value_that_shows_data_the_first_is_kept_so_the_panel_fails() -> None:
    chosen = concrete_values(
        variables(BOARD), lambda selector, label: ["b.1", "a.1"], INTERVALS, lambda v: False
    )
    assert chosen == {"node": r"a\\.1", "gpu": r"a\\.1"}


def test_a_variable_without_values_is_an_error() -> None:
    with pytest.raises(LookupError, match=r"\$node"):
        concrete_values(variables(BOARD), lambda selector, label: [], INTERVALS)


def test_every_query_of_the_bundles_dashboards_substitutes(bundle_config: BundleConfig) -> None:
    boards = dashboards.build(bundle_config)
    assert boards
    for board in boards:
        found = queries(board)
        assert found, board["uid"]
        for query in found:
            assert "$" not in substitute(query.expr, all_values(variables(board)), INTERVALS), query

"""The dashboard lint catches each broken rule; the query API extracts, substitutes and names what queries
read; promtool's parser fails a broken query."""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

import pytest

from alerts import records
from bundle.schema import BundleConfig
from dashboards import serving
from dashboards.lint import lint, lint_all, lint_expr
from dashboards.queries import KnownSeries, metric_names, panel_queries, promtool_parse, substitute
from dashboards.style import Panel, Query
from tests.fixtures_bundle import tool


@pytest.fixture(scope="module")
def board(bundle_config: BundleConfig) -> dict[str, Any]:
    return serving.build(bundle_config)


@pytest.fixture(scope="module")
def known(bundle_config: BundleConfig) -> KnownSeries:
    return KnownSeries(bundle_config)


def first_target(board: dict[str, Any]) -> dict[str, Any]:
    target: dict[str, Any] = board["panels"][1]["targets"][0]
    return target


@pytest.mark.parametrize(
    ("mutate", "problem"),
    [
        (lambda b: b.update(editable=True), "editable must be false"),
        (lambda b: b.update(uid=""), "uid missing"),
        (lambda b: b.update(schemaVersion=12), "schemaVersion"),
        (lambda b: b["templating"]["list"][1].update(refresh=1), "refresh: 2"),
        (lambda b: b["templating"]["list"][2].update(allValue=None), "allValue"),
        (lambda b: b["templating"]["list"].pop(0), "datasource variable"),
        (lambda b: b["panels"][1].update(datasource="Prometheus"), "datasource must be"),
        (lambda b: b["panels"][1].update(title=""), "title missing"),
        (lambda b: b["panels"][1].update(description=""), "description missing"),
        (lambda b: b["panels"][1]["fieldConfig"]["defaults"].pop("unit"), "unit missing"),
        (lambda b: b["panels"][1].update(targets=[]), "no targets"),
        (lambda b: b["panels"][2].update(id=b["panels"][1]["id"]), "unique"),
        (lambda b: b["panels"][2].update(gridPos=b["panels"][1]["gridPos"]), "overlaps panel"),
        (lambda b: b["panels"][2]["gridPos"].update(x=20), "past the 24 columns"),
        (lambda b: first_target(b).update(expr='up{model=~"$modle"}'), "variable $modle is not defined"),
        (lambda b: first_target(b).update(expr="rate(tfserving_requests_total[5m])"), "$__rate_interval"),
        (lambda b: first_target(b).update(expr="tfserving_requests_total"), "outside rate()"),
        (
            lambda b: first_target(b).update(expr="model:tfserving_request:rate5m"),
            "model:tfserving_request:rate5m is neither exported nor recorded",
        ),
        (
            lambda b: first_target(b).update(expr="rate(tfserving_request_total[$__rate_interval])"),
            "tfserving_request_total is neither exported nor recorded",
        ),
    ],
)
def test_the_lint_flags_each_broken_rule(
    board: dict[str, Any], known: KnownSeries, mutate: Callable[[dict[str, Any]], Any], problem: str
) -> None:
    assert lint(board, known) == []
    broken = copy.deepcopy(board)
    mutate(broken)
    assert any(problem in p for p in lint(broken, known)), lint(broken, known)


def test_promtool_fails_a_query_that_does_not_parse_and_says_which() -> None:
    problems = promtool_parse(["up", "rate(nvidia_gpu_busy_seconds_total[5m]"], tool("promtool"))
    assert list(problems) == [1] and "parse error: unclosed left parenthesis" in problems[1]
    assert promtool_parse(["up", "sum by (job) (up)"], tool("promtool")) == {}


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


def test_metric_names_skip_functions_keywords_labels_strings_and_durations() -> None:
    expr = (
        'histogram_quantile(0.95, sum by (le, model) (rate(a_bucket{model=~"x|y"}[$__rate_interval])))\n'
        "/ on (model) group_left (name) b:rec:ratio offset 1w > bool 1e6\nunless time() - c or vector(0)"
    )
    assert metric_names(expr) == {"a_bucket", "b:rec:ratio", "c"}


def test_known_series_cover_the_catalogue_histograms_and_every_record_family(known: KnownSeries) -> None:
    assert "tfserving_request_duration_seconds_bucket" in known
    assert "gpu:nvidia_gpu_busy:ratio_rate5m" in known  # recorded by alerts.build(cfg)
    assert records.latency_quantile("model_version", 0.99, "17m") in known
    assert records.slo_error_ratio("latency", "28d") in known
    assert "model:tfserving_request_duration_seconds:p42_rate5m" not in known
    assert "tfserving_request_duration_seconds_total" not in known


def test_substitute_sets_all_one_or_several_values_and_the_builtins() -> None:
    expr = 'rate(x{model=~"$model", version=~"${version}"}[$__rate_interval])'
    assert substitute(expr, {"model": ".+", "version": ".*"}) == 'rate(x{model=~".+", version=~".*"}[5m])'
    assert substitute(expr, {"model": ["bert"], "version": ["1", "2"]}, "30s") == (
        'rate(x{model=~"bert", version=~"(1|2)"}[30s])'
    )
    with pytest.raises(ValueError, match=r"unknown dashboard variable \$model"):
        substitute(expr, {"version": ".+"})


def test_panel_queries_list_targets_then_variable_selectors(board: dict[str, Any]) -> None:
    queries = panel_queries(board)
    assert queries[0][0] == "Request rate"
    assert [title for title, _ in queries[-3:]] == [
        "variable namespace",
        "variable model",
        "variable version",
    ]
    assert queries[-1][1].startswith("tfserving_model_version_state{")


def test_house_style_refuses_a_panel_without_unit_or_description() -> None:
    with pytest.raises(ValueError, match="title, description, unit and a query are required"):
        Panel("timeseries", "Power", "", "watt", (Query("vector(1)", "x"),))
    with pytest.raises(ValueError, match="required"):
        Panel("timeseries", "Power", "Power draw.", "", (Query("vector(1)", "x"),))


def test_lint_all_names_the_dashboard_and_panel_whose_query_does_not_parse(
    board: dict[str, Any], known: KnownSeries
) -> None:
    broken = copy.deepcopy(board)
    first_target(broken)["expr"] = 'sum(model:tfserving_requests:rate5m{model=~"$model"}'
    problems = lint_all([board, broken], known, tool("promtool"))
    assert problems == [
        "dashboard ml-serving: panel 'Request rate': could not parse expression: 1:49: parse error: "
        "unclosed left parenthesis"
    ]

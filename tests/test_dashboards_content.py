"""What the overview, Model serving and Models and quality dashboards show: the platform targets against the
config keys the alerts use, the recording rules of alerts/records.py, and per-model overrides."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from alerts import panels as panel_records
from alerts import records
from alerts.model import Record
from bundle.schema import BundleConfig
from dashboards import models, overview, serving
from dashboards.lint import lint, panels, promql
from dashboards.queries import promtool_parse
from tests.fixtures_bundle import tool

Titled = dict[str, dict[str, Any]]


def titled(board: dict[str, Any]) -> Titled:
    return {p["title"]: p for p in panels(board)}


def exprs(panel: dict[str, Any]) -> list[str]:
    return [t["expr"] for t in panel["targets"]]


def steps(panel: dict[str, Any]) -> list[tuple[Any, str]]:
    return [(s["value"], s["color"]) for s in panel["fieldConfig"]["defaults"]["thresholds"]["steps"]]


def rows(board: dict[str, Any]) -> list[str]:
    return [p["title"] for p in board["panels"] if p["type"] == "row"]


@pytest.fixture(scope="module")
def home(bundle_config: BundleConfig) -> Titled:
    return titled(overview.build(bundle_config))


@pytest.fixture(scope="module")
def serving_board(bundle_config: BundleConfig) -> Titled:
    return titled(serving.build(bundle_config))


@pytest.fixture(scope="module")
def models_board(bundle_config: BundleConfig) -> Titled:
    return titled(models.build(bundle_config))


TARGETS = [
    "Serving latency P95 (worst model)",
    "Training success ratio",
    "Registry availability",
    "Allocated GPU utilization",
]


def test_the_overview_opens_with_the_four_platform_targets(bundle_config: BundleConfig) -> None:
    board = overview.build(bundle_config)
    assert rows(board) == ["Platform targets", "Needs attention", "GPUs"]
    first = [p for p in board["panels"][1:5]]
    assert [p["title"] for p in first] == TARGETS
    assert all(p["type"] == "stat" and p["gridPos"]["w"] == 6 and p["gridPos"]["y"] == 1 for p in first)


def test_the_targets_read_their_thresholds_from_the_alerts_keys(home: Titled) -> None:
    assert steps(home[TARGETS[0]]) == [(None, "green"), (0.1, "red")]
    assert steps(home[TARGETS[1]]) == [(None, "red"), (0.95, "green")]
    assert steps(home[TARGETS[2]]) == [(None, "red"), (0.999, "green")]
    assert steps(home[TARGETS[3]]) == [(None, "red"), (0.7, "green"), (0.9, "orange")]


def test_changed_targets_move_the_thresholds(make_config: Callable[[dict[str, Any]], BundleConfig]) -> None:
    cfg = make_config(
        {
            "serving": {"latency_p95_target_seconds": 0.25},
            "training": {"success_ratio_target": 0.9},
            "registry": {"availability_objective": 0.99},
            "gpu": {"utilization_target_low": 0.6, "utilization_target_high": 0.8},
        }
    )
    home = titled(overview.build(cfg))
    assert [steps(home[t])[1][0] for t in TARGETS] == [0.25, 0.9, 0.99, 0.6]
    assert "250 ms" in home[TARGETS[0]]["description"]


def test_the_targets_read_the_shared_recording_rules(home: Titled, bundle_config: BundleConfig) -> None:
    (latency,) = exprs(home[TARGETS[0]])
    assert records.latency_quantile("model", 0.95, bundle_config.serving.rate_window) in latency
    (availability,) = exprs(home[TARGETS[2]])
    assert availability == f"1 - {records.registry_error_ratio('28d')}"
    (training,) = exprs(home[TARGETS[1]])
    assert 'window="7d", status=~"FINISHED"' in training and 'status=~"FINISHED|FAILED"' in training


def test_killed_runs_count_as_failures_when_configured(
    make_config: Callable[[dict[str, Any]], BundleConfig],
) -> None:
    home = titled(overview.build(make_config({"training": {"killed_is_failure": True}})))
    assert 'status=~"FINISHED|FAILED|KILLED"' in exprs(home[TARGETS[1]])[0]


def test_attention_row_reads_alerts_by_their_configured_names(
    make_config: Callable[[dict[str, Any]], BundleConfig],
) -> None:
    home = titled(overview.build(make_config({"naming": {"alert_prefix": "Acme"}})))
    (firing,) = exprs(home["Firing alerts by severity"])
    assert 'ALERTS{alertstate="firing", alertname=~"Acme.+"}' in firing
    (degraded,) = exprs(home["Models drifted or degraded"])
    assert "AcmeModelDriftCritical|AcmeModelFeaturesDrifted|AcmeModelQualityDegraded" in degraded
    assert "\nor\n0 * (\ngroup by (model, version) (mlflow_model_drift_timestamp_seconds{" in degraded
    assert "\nor\ngroup by (model, version) (mlflow_model_quality_timestamp_seconds{" in degraded
    (disagree,) = exprs(home["Serving and registry disagree"])
    assert "AcmeServingRegistryMismatch" in disagree
    assert disagree.endswith(
        '0 * group by (model) (mlflow_model_alias_version{job="mlobs-exporter-cluster", alias="production"})'
    )
    budgets = exprs(home["SLO error budget remaining"])
    assert budgets == [records.slo_budget_remaining("availability"), records.slo_budget_remaining("latency")]


def test_serving_rows(bundle_config: BundleConfig) -> None:
    assert rows(serving.build(bundle_config)) == [
        "Traffic and errors",
        "Latency",
        "Versions",
        "Version comparison",
        "Service level objectives",
        "Serving targets",
        "GPUs under the serving pods",
    ]


def test_serving_latency_reads_the_quantile_records_against_the_p95_target(serving_board: Titled) -> None:
    latency = serving_board["Latency P50, P95 and P99"]
    assert [e.split("{")[0] for e in exprs(latency)] == [
        records.latency_quantile("model", q, "5m") for q in records.QUANTILES
    ]
    assert steps(latency) == [(None, "green"), (0.1, "red")]
    (by_version,) = exprs(serving_board["P95 latency by version"])
    assert by_version.startswith(records.latency_quantile("model_version", 0.95, "5m") + "{")
    assert 'version=~"$version"' in by_version


def test_errors_by_status_leave_client_mistakes_out(serving_board: Titled) -> None:
    (errors,) = exprs(serving_board["Errors by status"])
    assert 'status!~"OK|CANCELLED|INVALID_ARGUMENT|' in errors
    assert steps(serving_board["Error ratio"]) == [(None, "green"), (0.05, "red")]


def test_heatmap_reads_the_recorded_latency_buckets_per_version(serving_board: Titled) -> None:
    heatmap = serving_board["Latency heatmap"]
    assert heatmap["type"] == "heatmap" and heatmap["targets"][0]["format"] == "heatmap"
    assert exprs(heatmap)[0].startswith(f"sum by (le) ({records.latency_bucket_rate('5m')}{{")


def test_version_states_are_coded_as_numbers_with_names(
    serving_board: Titled, bundle_config: BundleConfig
) -> None:
    panel = serving_board["Version states"]
    options = panel["fieldConfig"]["defaults"]["mappings"][0]["options"]
    assert {v["text"] for v in options.values()} == set(panel_records.VERSION_STATES)
    assert options["4"]["text"] == "AVAILABLE"
    record = panel_records.version_state_record()
    assert exprs(panel)[0].startswith(f"{record}{{")
    (coded,) = [
        r.expr
        for g in panel_records.groups(bundle_config)
        for r in g.rules
        if isinstance(r, Record) and r.record == record
    ]
    assert 'state="AVAILABLE"} * 4' in coded


def test_burn_rates_divide_by_each_models_own_budget(
    make_config: Callable[[dict[str, Any]], BundleConfig],
) -> None:
    cfg = make_config({"models": {"overrides": {"ranking": {"slo": {"availability_objective": 0.99}}}}})
    board = serving.build(cfg)
    first = exprs(titled(board)["Availability burn rate"])[0]
    assert f'unless {records.slo_error_ratio("availability", "1h")}{{model=~"ranking"}}) / 0.001' in first
    assert 'and model:slo_availability_errors:ratio_rate1h{model="ranking"}) / 0.01' in first
    assert lint(board) == []
    assert promtool_parse(promql(board), tool("promtool")) == {}


def test_gpus_under_serving_pods_need_attribution(
    make_config: Callable[[dict[str, Any]], BundleConfig],
) -> None:
    board = serving.build(make_config({"attribution": {"enabled": False}}))
    assert "GPUs under the serving pods" not in rows(board)


def test_gpus_under_serving_pods_read_records_of_the_model_info_joined_on_uuid(
    serving_board: Titled, bundle_config: BundleConfig
) -> None:
    (utilization,) = exprs(serving_board["GPU utilization under serving pods"])
    (memory,) = exprs(serving_board["GPU memory under serving pods"])
    chosen = '{namespace=~"$namespace", model=~"$model"}'
    assert utilization == f"{panel_records.serving_gpu_utilization_record()}{chosen}"
    assert memory == f"{panel_records.serving_gpu_memory_record()}{chosen}"
    groups = panel_records.groups(bundle_config)
    recorded = {r.record: r.expr for group in groups for r in group.rules if isinstance(r, Record)}
    held = "group by (uuid, gpu, mig_uuid, node, namespace, pod, model) (nvidia_gpu_model_info{"
    for name in (panel_records.serving_gpu_utilization_record(), panel_records.serving_gpu_memory_record()):
        assert recorded[name].startswith(held)
        assert "* on (uuid) group_left ()\n" in recorded[name]
    assert "\nnvidia_gpu_utilization_ratio{" in recorded[panel_records.serving_gpu_utilization_record()]


def test_drift_panels_per_metric_with_thresholds_in_its_direction(models_board: Titled) -> None:
    assert steps(models_board["Drift: psi"]) == [(None, "green"), (0.1, "orange"), (0.25, "red")]
    assert steps(models_board["Drift: p_value"]) == [(None, "red"), (0.01, "orange"), (0.05, "green")]
    (psi,) = exprs(models_board["Drift: psi"])
    assert psi.startswith("mlflow_model_drift{") and 'metric="psi"}' in psi  # dataset level and features
    (drifted,) = exprs(models_board["Drifted features"])
    assert drifted.startswith(records.drifted_feature_ratio())
    assert steps(models_board["Drifted features"]) == [(None, "green"), (0.3, "red")]


def test_quality_is_held_against_the_baseline_of_the_same_version(models_board: Titled) -> None:
    (shortfall,) = exprs(models_board["Quality shortfall against the baseline"])
    better, worse = shortfall.split("\n)\nor\n(\n")
    assert better.startswith("(\n1 - (") and 'metric=~"accuracy|auc|f1|precision|recall"' in better
    assert "/ on (model, version, metric)\nmlflow_model_offline_metric{" in better
    assert 'alias="production"' in better
    assert worse.endswith(") - 1\n)") and 'metric=~"rmse|mae|log_loss"' in worse


def test_training_and_staleness_thresholds_come_from_the_config(models_board: Titled) -> None:
    assert steps(models_board["Training success ratio"]) == [(None, "red"), (0.95, "green")]
    assert exprs(models_board["Training success ratio"])[0].startswith(records.training_success_ratio())
    assert steps(models_board["Time since the last successful run"]) == [(None, "green"), (172800.0, "red")]
    assert steps(models_board["Monitoring staleness"]) == [(None, "green"), (21600.0, "red")]
    assert steps(models_board["Snapshot age"]) == [(None, "green"), (600.0, "red")]
    assert steps(models_board["Registry availability"]) == [(None, "red"), (0.999, "green")]


def test_latency_against_target_divides_by_each_models_own_target(
    make_config: Callable[[dict[str, Any]], BundleConfig],
) -> None:
    cfg = make_config(
        {"models": {"overrides": {"ranking": {"serving": {"latency_p95_target_seconds": 0.25}}}}}
    )
    (expr,) = exprs(titled(serving.build(cfg))["P95 latency against each model's target"])
    p95 = records.latency_quantile("model", 0.95, "5m")
    assert f'unless {p95}{{model=~"ranking"}}) / 0.1\nor\n' in expr
    assert expr.endswith(f'and {p95}{{model="ranking"}}) / 0.25')

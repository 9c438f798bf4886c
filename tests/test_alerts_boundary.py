"""Config-derived boundary cases: each alert fires just past its configured threshold once its `for` has run,
and never for series just short of it, whatever a site configures; every alert of every area has them."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

import alerts
from alerts.boundary import Boundary, Series, cases, promtool_tests
from alerts.promtool import run_tests
from alerts.render import plain
from bundle.output import dump_yaml
from bundle.schema import BundleConfig

SITE = {
    "naming": {"cluster_label": "k8s_cluster", "job_label": "scrape_job", "alert_prefix": "Acme"},
    "serving": {
        "latency_p95_target_seconds": 0.3,
        "latency_for": "20m",
        "error_ratio_warning": 0.02,
        "traffic_drop_offset": "1d",
        "traffic_drop_for": "1h",
        "model_names": {"Fraud.Detector": "fraud"},
    },
    "slo": {"availability_objective": 0.995, "latency_threshold_seconds": 0.218591},
    "models": {
        "overrides": {
            "ranking": {
                "serving": {"latency_p95_target_seconds": 0.5, "error_ratio_warning": 0.1},
                "slo": {"availability_objective": 0.99, "latency_threshold_seconds": 0.393464},
            }
        }
    },
}
EVERYTHING_CHANGED: dict[str, Any] = {
    "naming": {"alert_prefix": "Acme", "job_label": "scrape_job", "node_label": "host", "cluster_label": ""},
    "exporter": {"cluster_job": "mlflow-exporter", "gpu_job": "gpus"},
    "serving": {"job": "gpus"},
    "models": {
        "overrides": {
            "fraud-detector": {
                "drift": {"metrics": {"psi": {"critical": 0.4}, "p_value": {"warning": 0.1}}},
                "quality": {"metrics": {"auc": {"tolerance": 0.2}}},
            }
        }
    },
    "drift": {"alert_for": "30m", "drifted_features_ratio_warning": 0.5},
    "quality": {"alert_for": "1h", "monitoring_stale_after": "2h"},
    "training": {
        "success_ratio_target": 0.9,
        "min_runs": 3,
        "killed_is_failure": True,
        "success_ratio_for": "5m",
        "no_success_for": "1d",
        "window": "1d",
        "experiments": {"train-ranking": {"no_success_for": "8d"}},
    },
    "registry": {
        "availability_objective": 0.99,
        "production_alias": "champion",
        "unreachable_for": "2m",
        "snapshot_stale_after": "5m",
        "items_dropped_window": "1h",
        "alias_not_ready_for": "30m",
    },
    "exporters": {
        "absent_for": "5m",
        "targets_down_ratio": 0.25,
        "targets_down_for": "5m",
        "collector_failing_for": "3m",
        "discovery_failing_for": "20m",
    },
}
# Alerts without derived boundaries, and why; the hand-written cases (alerts/rule_tests/) cover them.
EXEMPT = {
    "MLObsGpuXidApplication": "the XidCritical mechanism, whose derived case covers it (gpu-test.yaml)",
    "MLObsGpuRemappedRowsPending": "a state flag, no threshold or for (gpu-test.yaml)",
    "MLObsGpuRemappedRowsFailed": "a state flag, no threshold or for (gpu-test.yaml)",
    "MLObsGpuFakeData": "the simulator's marker series, no threshold (gpu-test.yaml)",
}


def run(cfg: BundleConfig, rules_cfg: BundleConfig, folder: Path) -> list[str]:
    return run_tests(
        folder, dump_yaml(plain(alerts.build(rules_cfg))), promtool_tests(alerts.boundaries(cfg))
    )


def test_default_config_passes_its_boundaries(bundle_config: BundleConfig, tmp_path: Path) -> None:
    assert run(bundle_config, bundle_config, tmp_path) == []


def test_a_sites_thresholds_durations_labels_and_overrides_get_their_own_boundaries(
    make_config: Callable[[dict[str, Any]], BundleConfig], tmp_path: Path
) -> None:
    cfg = make_config(SITE)
    names = [b.alert for b in alerts.boundaries(cfg)]
    assert names.count("AcmeServingLatencyHigh") == 2  # the default and the ranking override
    assert names.count("AcmeSloAvailabilityBurnFast") == 2
    assert run(cfg, cfg, tmp_path) == []


def test_everything_the_model_training_registry_and_exporter_alerts_use_gets_its_own_boundaries(
    make_config: Callable[[dict[str, Any]], BundleConfig], tmp_path: Path
) -> None:
    assert run(make_config(EVERYTHING_CHANGED), make_config(EVERYTHING_CHANGED), tmp_path) == []


def test_every_alert_has_a_boundary_or_a_reason(bundle_config: BundleConfig) -> None:
    names = {a.name for g in alerts.build(bundle_config) for a in g.alerts}
    assert names - {b.alert for b in alerts.boundaries(bundle_config)} == set(EXEMPT)


def test_boundaries_catch_rules_built_from_another_threshold(
    make_config: Callable[[dict[str, Any]], BundleConfig], tmp_path: Path
) -> None:
    expected = make_config({"serving": {"error_ratio_warning": 0.05}})
    drifted = make_config({"serving": {"error_ratio_warning": 0.052}})
    problems = run(expected, drifted, tmp_path)
    assert any("MLObsServingErrorRatioHigh" in p for p in problems), problems


def test_boundaries_catch_rules_built_from_another_duration_or_target(
    make_config: Callable[[dict[str, Any]], BundleConfig], tmp_path: Path
) -> None:
    stricter = make_config({"drift": {"alert_for": "20m"}, "training": {"success_ratio_target": 0.9}})
    problems = run(stricter, make_config({}), tmp_path)
    assert any("MLObsModelDriftWarning" in p for p in problems), problems


def test_a_boundary_checks_pending_before_and_firing_at_the_for_boundary() -> None:
    series = [Series("up", {"job": "x"}, "0x10")]
    crossing, near_miss = cases(
        Boundary("MLObsXDown", {"severity": "warning"}, "5m", series, series, onset="2m")
    )
    checks = [(c["expr"], c["eval_time"], bool(c["exp_samples"])) for c in crossing["promql_expr_test"]]
    assert checks == [
        ('ALERTS{alertname="MLObsXDown", alertstate="firing"}', "420s", True),
        ('ALERTS{alertname="MLObsXDown", alertstate="firing"}', "360s", False),
        ('ALERTS{alertname="MLObsXDown", alertstate="pending"}', "360s", True),
    ]
    assert all(not c["exp_samples"] for c in near_miss["promql_expr_test"])
    assert crossing["input_series"] == [{"series": 'up{job="x"}', "values": "0x10"}]


def test_a_boundary_off_the_evaluation_grid_is_refused() -> None:
    with pytest.raises(ValueError, match="multiples of 5m"):
        cases(Boundary("MLObsXDown", {}, "7m", [], [], evaluation_interval="5m"))

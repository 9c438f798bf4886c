"""Config-derived boundary cases: each alert fires just past its configured threshold once its `for` has run,
and never for series just short of it, whatever a site configures."""

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


def test_boundaries_catch_rules_built_from_another_threshold(
    make_config: Callable[[dict[str, Any]], BundleConfig], tmp_path: Path
) -> None:
    expected = make_config({"serving": {"error_ratio_warning": 0.05}})
    drifted = make_config({"serving": {"error_ratio_warning": 0.052}})
    problems = run(expected, drifted, tmp_path)
    assert any("MLObsServingErrorRatioHigh" in p for p in problems), problems


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

"""Config-derived boundary cases of the model, training, registry and exporter alerts pass promtool for the
default config and for one that changes every threshold, duration, name and label they use."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from alerts import build, exporters, models, registry, training
from alerts.boundary_models import boundary_file, cases
from alerts.render import plain
from bundle.output import dump_yaml
from bundle.schema import BundleConfig
from tests.fixtures_bundle import run_tool, tool

OWN_GROUPS = {models.GROUP, training.GROUP, registry.GROUP, exporters.GROUP}
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


def run_boundaries(cfg: BundleConfig, folder: Path) -> None:
    rendered = plain(build(cfg))
    for group in rendered["groups"]:
        for rule in group["rules"]:
            rule.pop("annotations", None)  # thresholds decide labels; tests/rules/ check the annotations
    (folder / "rules.yaml").write_text(dump_yaml(rendered), encoding="utf-8")
    (folder / "boundary-test.yaml").write_text(
        yaml.safe_dump(boundary_file(cfg), sort_keys=False), encoding="utf-8"
    )
    result = run_tool([tool("promtool"), "test", "rules", "boundary-test.yaml"], cwd=folder)
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize("override", [{}, EVERYTHING_CHANGED], ids=["default", "everything-changed"])
def test_boundary_cases_pass_promtool(
    make_config: Callable[[dict[str, Any]], BundleConfig], override: dict[str, Any], tmp_path: Path
) -> None:
    run_boundaries(make_config(override), tmp_path)


def test_boundary_cases_fail_against_rules_of_another_config(
    make_config: Callable[[dict[str, Any]], BundleConfig], tmp_path: Path
) -> None:
    (tmp_path / "rules.yaml").write_text(dump_yaml(plain(build(make_config({})))), encoding="utf-8")
    stricter = make_config({"drift": {"alert_for": "20m"}, "training": {"success_ratio_target": 0.9}})
    (tmp_path / "boundary-test.yaml").write_text(yaml.safe_dump(boundary_file(stricter)), encoding="utf-8")
    result = run_tool([tool("promtool"), "test", "rules", "boundary-test.yaml"], cwd=tmp_path)
    assert result.returncode != 0
    assert "MLObsModelDriftWarning" in result.stdout + result.stderr


def test_every_alert_has_a_firing_and_a_silent_boundary(bundle_config: BundleConfig) -> None:
    checks = [check for case in cases(bundle_config) for check in case["alert_rule_test"]]
    firing = {c["alertname"] for c in checks if c["exp_alerts"]}
    silent = {c["alertname"] for c in checks if not c["exp_alerts"]}
    alerts = {a.name for g in build(bundle_config) if g.name in OWN_GROUPS for a in g.alerts}
    assert alerts - firing == set()
    assert alerts - silent == set()

"""The GPU rules, checked by the real tools: promtool check rules, promtool unit tests, the CRD schema."""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from alerts import build
from alerts.gpu import GROUP
from alerts.lint import lint
from alerts.render import plain, prometheus_rule
from bundle.output import dump_yaml
from bundle.schema import BundleConfig
from tests.fixtures_bundle import Validate, run_tool, tool

RULE_TESTS = Path(__file__).parent.parent / "alerts" / "rule_tests"


def write_rules(cfg: BundleConfig, folder: Path) -> Path:
    path = folder / "rules.yaml"
    path.write_text(dump_yaml(plain(build(cfg))), encoding="utf-8")
    return path


def test_promtool_accepts_the_rule_file(bundle_config: BundleConfig, tmp_path: Path) -> None:
    result = run_tool([tool("promtool"), "check", "rules", str(write_rules(bundle_config, tmp_path))])
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS" in result.stdout


def test_gpu_alerts_pass_their_promtool_unit_tests(bundle_config: BundleConfig, tmp_path: Path) -> None:
    write_rules(bundle_config, tmp_path)
    shutil.copy(RULE_TESTS / "gpu-test.yaml", tmp_path)
    result = run_tool([tool("promtool"), "test", "rules", "gpu-test.yaml"], cwd=tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr


def test_every_gpu_alert_is_tested_firing_and_silent(bundle_config: BundleConfig) -> None:
    cases = yaml.safe_load((RULE_TESTS / "gpu-test.yaml").read_text(encoding="utf-8"))["tests"]
    firing: set[str] = set()
    silent: set[str] = set()
    for case in cases:
        for check in case.get("alert_rule_test", []):
            (firing if check["exp_alerts"] else silent).add(check["alertname"])
    alerts = {a.name for group in build(bundle_config) if group.name.startswith(GROUP) for a in group.alerts}
    assert alerts - firing == set(), "alerts never tested firing"
    assert alerts - silent == set(), "alerts never tested silent"


def test_every_recording_rule_is_tested(bundle_config: BundleConfig) -> None:
    cases = [
        case
        for path in sorted(RULE_TESTS.glob("*-test.yaml"))
        for case in yaml.safe_load(path.read_text(encoding="utf-8"))["tests"]
    ]
    tested = {check["expr"] for case in cases for check in case.get("promql_expr_test", [])}
    records = {
        r["record"]
        for g in plain(build(bundle_config))["groups"]
        if g["name"].startswith(GROUP)
        for r in g["rules"]
        if "record" in r
    }
    assert records and records <= tested


def test_rules_follow_the_alerting_conventions(bundle_config: BundleConfig) -> None:
    assert lint(build(bundle_config), bundle_config.naming.alert_prefix) == []


def test_prometheus_rule_is_valid_against_the_crd(
    bundle_config: BundleConfig, validate_prometheusrule: Validate
) -> None:
    obj = prometheus_rule(build(bundle_config), bundle_config)
    assert validate_prometheusrule(obj) == []
    assert obj["spec"] == plain(build(bundle_config))
    assert obj["metadata"]["labels"]["release"] == "kube-prometheus-stack"
    assert obj["metadata"]["namespace"] == "monitoring"


def test_crd_validation_rejects_a_malformed_rule(
    bundle_config: BundleConfig, validate_prometheusrule: Validate
) -> None:
    obj: dict[str, Any] = prometheus_rule(build(bundle_config), bundle_config)
    obj["spec"]["groups"][0]["partial_response_strategy"] = "Ignore"  # Go regex ^(?i)(abort|warn)?$
    obj["spec"]["groups"][0]["rules"][1]["fro"] = "5m"
    errors = validate_prometheusrule(obj)
    assert any("partial_response_strategy" in e for e in errors), errors
    assert any("'fro'" in e for e in errors), errors


def test_go_case_insensitive_pattern_accepts_what_the_operator_accepts(
    bundle_config: BundleConfig, validate_prometheusrule: Validate
) -> None:
    obj: dict[str, Any] = prometheus_rule(build(bundle_config), bundle_config)
    obj["spec"]["groups"][0]["partial_response_strategy"] = "WARN"
    assert validate_prometheusrule(obj) == []


def test_selector_labels_and_thresholds_come_from_the_config(
    make_config: Callable[[dict[str, Any]], BundleConfig],
) -> None:
    cfg = make_config(
        {
            "naming": {
                "selector_labels": {"prometheus": "main"},
                "alert_prefix": "Acme",
                "node_label": "host",
            },
            "exporter": {"gpu_job": "gpus"},
            "gpu": {"temperature_warning_celsius": 75, "critical_xids": [79], "throttle_for": "20m"},
        }
    )
    rules = {r.get("alert"): r for g in plain(build(cfg))["groups"] for r in g["rules"]}
    assert rules["AcmeGpuTemperatureHigh"]["expr"] == 'nvidia_gpu_temperature_celsius{job="gpus"} >= 75'
    assert 'xid=~"79"' in rules["AcmeGpuXidCritical"]["expr"]
    assert rules["AcmeGpuThrottled"]["for"] == "20m"
    assert "$labels.host" in rules["AcmeGpuLost"]["annotations"]["description"]
    assert rules["AcmeGpuLost"]["annotations"]["runbook_url"].endswith("#acmegpulost")
    assert prometheus_rule(build(cfg), cfg)["metadata"]["labels"]["prometheus"] == "main"
    assert "release" not in prometheus_rule(build(cfg), cfg)["metadata"]["labels"]


@pytest.mark.parametrize("name", ["MLObsGpuLost", "MLObsGpuXidCritical", "MLObsGpuEccUncorrectable"])
def test_hardware_failures_page(bundle_config: BundleConfig, name: str) -> None:
    alerts = {a.name: a for group in build(bundle_config) for a in group.alerts}
    assert alerts[name].severity == "critical"

"""The serving and SLO rules, checked by promtool against the shipped cases and by their config."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from alerts import build, records
from alerts.promtool import run_tests, shipped_tests
from alerts.render import plain
from bundle.output import dump_yaml
from bundle.schema import BundleConfig

AREA_FILES = {
    "serving": ("serving-test.yaml", "serving-traffic-test.yaml"),
    "slo": ("slo-test.yaml",),
}


def rules_text(cfg: BundleConfig) -> str:
    return dump_yaml(plain(build(cfg)))


def cases(*names: str) -> dict[str, Any]:
    shipped = shipped_tests()
    return {name: yaml.safe_load(shipped[name]) for name in names}


def rules_of(cfg: BundleConfig, prefix: str) -> list[dict[str, Any]]:
    return [r for g in plain(build(cfg))["groups"] if g["name"].startswith(prefix) for r in g["rules"]]


@pytest.mark.parametrize("area", sorted(AREA_FILES))
def test_area_passes_its_promtool_cases(bundle_config: BundleConfig, tmp_path: Path, area: str) -> None:
    assert run_tests(tmp_path, rules_text(bundle_config), cases(*AREA_FILES[area])) == []


@pytest.mark.parametrize("area", sorted(AREA_FILES))
def test_every_alert_fires_and_stays_silent_and_every_record_is_checked(
    bundle_config: BundleConfig, area: str
) -> None:
    firing: set[str] = set()
    silent: set[str] = set()
    exprs: set[str] = set()
    for test in cases(*AREA_FILES[area]).values():
        for case in test["tests"]:
            for check in case.get("alert_rule_test", []):
                (firing if check["exp_alerts"] else silent).add(check["alertname"])
            exprs |= {check["expr"].split("{")[0] for check in case.get("promql_expr_test", [])}
    rules = rules_of(bundle_config, f"mlobs-{area}")
    alerts = {r["alert"] for r in rules if "alert" in r}
    assert alerts - firing == set(), "alerts never tested firing"
    assert alerts - silent == set(), "alerts never tested silent"
    assert {r["record"] for r in rules if "record" in r} - exprs == set(), "records never tested"


def test_record_names_come_from_the_shared_contract(bundle_config: BundleConfig) -> None:
    names = {r["record"] for r in rules_of(bundle_config, "mlobs-serving") if "record" in r}
    assert records.request_rate("model", "5m") in names
    assert records.latency_quantile("model_version", 0.99, "5m") in names
    slo = {r["record"] for r in rules_of(bundle_config, "mlobs-slo") if "record" in r}
    assert {records.slo_error_ratio("latency", w) for w in (*records.SLO_WINDOWS, "28d")} <= slo
    assert records.slo_budget_remaining("availability") in slo


def test_latency_slo_counts_under_the_exporters_exact_bucket_string(bundle_config: BundleConfig) -> None:
    slow = next(
        r["expr"]
        for r in rules_of(bundle_config, "mlobs-slo-latency")
        if r.get("record", "").endswith("rate5m")
    )
    assert 'le="0.12144"' in slow


def test_a_model_override_gets_its_own_rules_and_the_default_excludes_it(
    make_config: Callable[[dict[str, Any]], BundleConfig],
) -> None:
    cfg = make_config(
        {
            "models": {
                "overrides": {
                    "ranking": {
                        "serving": {"latency_p95_target_seconds": 0.25},
                        "slo": {"latency_threshold_seconds": 0.393464},
                    }
                }
            }
        }
    )
    latency = [r for r in rules_of(cfg, "mlobs-serving") if r.get("alert") == "MLObsServingLatencyHigh"]
    assert [r["expr"].splitlines()[0] for r in latency] == [
        'model:tfserving_request_duration_seconds:p95_rate5m{model!~"ranking"} > 0.1',
        'model:tfserving_request_duration_seconds:p95_rate5m{model=~"ranking"} > 0.25',
    ]
    assert "250ms target" in latency[1]["annotations"]["description"]
    slow = next(
        r["expr"] for r in rules_of(cfg, "mlobs-slo-latency") if r.get("record", "").endswith("rate5m")
    )
    assert 'le="0.12144", model!~"ranking"' in slow
    assert 'le="0.393464", model=~"ranking"' in slow
    burns = [r for r in rules_of(cfg, "mlobs-slo-latency") if r.get("alert") == "MLObsSloLatencyBurnFast"]
    assert len(burns) == 2
    assert "393.46ms" in burns[1]["annotations"]["description"]


def test_registry_names_map_to_serving_names(make_config: Callable[[dict[str, Any]], BundleConfig]) -> None:
    cfg = make_config({"serving": {"model_names": {"Fraud.Detector": "fraud"}}})
    mismatch = next(
        r for r in rules_of(cfg, "mlobs-serving") if r.get("alert") == "MLObsServingRegistryMismatch"
    )
    assert (
        'label_replace(mlflow_model_alias_version{job="mlobs-exporter-cluster", alias="production"}, '
        in (mismatch["expr"])
    )
    assert '"model", "fraud", "model", "Fraud\\\\.Detector")' in mismatch["expr"]

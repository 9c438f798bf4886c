"""The model, training, registry and exporter rules, checked by promtool against their hand-written unit
tests, and against other configs: per-model overrides, KILLED as a failure, a cluster label."""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from alerts import build, exporters, models, registry, training
from alerts.render import plain
from bundle.output import dump_yaml
from bundle.schema import BundleConfig
from tests.fixtures_bundle import run_tool, tool

# Shipped with the package (`mlobs-bundle check` runs them too); the two-cluster case stays with the tests.
RULE_TESTS = Path(__file__).parent.parent / "alerts" / "rule_tests"
CLUSTER_TESTS = Path(__file__).parent / "rules"
# Each hand-written file and the groups whose alerts it must exercise firing and silent.
FILES = {
    "models-test.yaml": models.GROUP,
    "training-test.yaml": training.GROUP,
    "registry-test.yaml": registry.GROUP,
    "registry-slo-test.yaml": registry.GROUP,
    "exporters-test.yaml": exporters.GROUP,
}
OWN_GROUPS = set(FILES.values())
MakeConfig = Callable[[dict[str, Any]], BundleConfig]


def rules_file(cfg: BundleConfig, *, annotations: bool = True) -> str:
    rendered = plain(build(cfg))
    if not annotations:
        for group in rendered["groups"]:
            for rule in group["rules"]:
                rule.pop("annotations", None)
    return dump_yaml(rendered)


def promtool_test(rules: str, test_files: list[Path], folder: Path) -> None:
    (folder / "rules.yaml").write_text(rules, encoding="utf-8")
    for path in test_files:
        shutil.copy(path, folder)
    result = run_tool([tool("promtool"), "test", "rules", *(p.name for p in test_files)], cwd=folder)
    assert result.returncode == 0, result.stdout + result.stderr


def own_rules(cfg: BundleConfig) -> dict[str, dict[str, Any]]:
    """Alert or record name -> rendered rule, for this module's groups."""
    return {
        rule.get("alert", rule.get("record")): rule
        for group in plain(build(cfg))["groups"]
        if group["name"] in OWN_GROUPS
        for rule in group["rules"]
    }


def test_the_rules_pass_their_promtool_unit_tests(bundle_config: BundleConfig, tmp_path: Path) -> None:
    promtool_test(rules_file(bundle_config), [RULE_TESTS / name for name in FILES], tmp_path)


def test_every_alert_is_tested_firing_and_silent(bundle_config: BundleConfig) -> None:
    firing: set[str] = set()
    silent: set[str] = set()
    for name in FILES:
        for case in yaml.safe_load((RULE_TESTS / name).read_text(encoding="utf-8"))["tests"]:
            for check in case.get("alert_rule_test", []):
                (firing if check["exp_alerts"] else silent).add(check["alertname"])
    alerts = {a.name for g in build(bundle_config) if g.name in OWN_GROUPS for a in g.alerts}
    assert alerts - firing == set(), "alerts never tested firing"
    assert alerts - silent == set(), "alerts never tested silent"


def test_every_recording_rule_is_tested_with_exact_values(bundle_config: BundleConfig) -> None:
    tested = {
        check["expr"]
        for name in FILES
        for case in yaml.safe_load((RULE_TESTS / name).read_text(encoding="utf-8"))["tests"]
        for check in case.get("promql_expr_test", [])
        if check["exp_samples"]
    }
    records = {name for name, rule in own_rules(bundle_config).items() if "record" in rule}
    assert records and records <= tested, records - tested


def test_the_cluster_label_is_kept_apart_across_two_clusters(make_config: MakeConfig, tmp_path: Path) -> None:
    cfg = make_config({"naming": {"cluster_label": "cluster"}})
    promtool_test(rules_file(cfg, annotations=False), [CLUSTER_TESTS / "clusters-models-test.yaml"], tmp_path)


def test_the_cluster_label_is_in_every_aggregation(make_config: MakeConfig) -> None:
    for name, rule in own_rules(make_config({"naming": {"cluster_label": "region"}})).items():
        for clause in ("by (", "on ("):
            parts = rule["expr"].split(clause)[1:]
            assert all(p.startswith("region") for p in parts), f"{name}: {clause}...) without region"


def test_without_a_cluster_label_no_aggregation_names_one(bundle_config: BundleConfig) -> None:
    assert all(
        "cluster" not in rule["expr"].replace("-cluster", "") for rule in own_rules(bundle_config).values()
    )


def test_a_model_override_changes_only_that_models_threshold(make_config: MakeConfig) -> None:
    cfg = make_config(
        {"models": {"overrides": {"fraud-detector": {"drift": {"metrics": {"psi": {"critical": 0.4}}}}}}}
    )
    expr = own_rules(cfg)["MLObsModelDriftCritical"]["expr"]
    assert 'metric="psi", feature="", model!~"fraud-detector"}) > 0.25' in expr
    assert 'metric="psi", feature="", model=~"fraud-detector"}) > 0.4' in expr
    # Its other metrics keep the defaults, in a term of their own.
    assert 'metric="p_value", feature="", model=~"fraud-detector"}) < 0.01' in expr


def test_a_quality_override_changes_the_tolerance(make_config: MakeConfig) -> None:
    cfg = make_config(
        {"models": {"overrides": {"ranking": {"quality": {"metrics": {"auc": {"tolerance": 0.2}}}}}}}
    )
    expr = own_rules(cfg)["MLObsModelQualityDegraded"]["expr"]
    assert expr.count("> 0.2\n") + expr.endswith("> 0.2") == 1
    assert 'mlflow_model_quality{job="mlobs-exporter-cluster", metric="auc", model=~"ranking"}' in expr


def test_killed_runs_count_as_failures_when_configured(make_config: MakeConfig) -> None:
    default = own_rules(make_config({}))["experiment:mlflow_training_runs:success_ratio"]["expr"]
    killed = own_rules(make_config({"training": {"killed_is_failure": True}}))
    assert 'status=~"FINISHED|FAILED"}' in default
    assert (
        'status=~"FINISHED|FAILED|KILLED"}' in killed["experiment:mlflow_training_runs:success_ratio"]["expr"]
    )
    assert (
        "FAILED and KILLED count as failures"
        in killed["MLObsTrainingSuccessRatioLow"]["annotations"]["description"]
    )


def test_an_experiment_override_gets_its_own_limit(make_config: MakeConfig) -> None:
    cfg = make_config({"training": {"experiments": {"train-ranking": {"no_success_for": "8d"}}}})
    expr = own_rules(cfg)["MLObsTrainingNoRecentSuccess"]["expr"]
    assert 'experiment!~"train-ranking"}) > 172800' in expr
    assert 'experiment="train-ranking"}) > 691200' in expr


def test_registry_burn_thresholds_follow_the_objective(make_config: MakeConfig) -> None:
    rules = own_rules(make_config({"registry": {"availability_objective": 0.99}, "slo": {"period": "30d"}}))
    assert "job:mlflow_requests_errors:ratio_rate1h > 0.144" in rules["MLObsRegistryBurnFast"]["expr"]
    assert "job:mlflow_requests_errors:ratio_rate3d > 0.01" in rules["MLObsRegistryBurnSlow"]["expr"]
    assert rules["job:mlflow_requests_error_budget:remaining_ratio"]["expr"] == (
        "1 - job:mlflow_requests_errors:ratio_rate30d / 0.01"
    )
    assert "job:mlflow_requests_errors:ratio_rate30d" in rules


def test_registry_fault_kinds_are_kinds_the_exporter_counts() -> None:
    from exporter.mlflow.stats import ERROR_KINDS

    assert set(registry.REGISTRY_FAULT_KINDS) < set(ERROR_KINDS)


@pytest.mark.parametrize(
    ("group", "uid"),
    [
        ("mlobs-models", "ml-models"),
        ("mlobs-training", "ml-models"),
        ("mlobs-registry", "ml-models"),
        ("mlobs-exporters", "ml-overview"),
    ],
)
def test_alerts_link_their_dashboard(bundle_config: BundleConfig, group: str, uid: str) -> None:
    found = [g for g in build(bundle_config) if g.name == group]
    assert found and all(a.annotations["dashboard_url"].endswith(f"/d/{uid}") for a in found[0].alerts)

"""The experiment rules: promtool runs the cases of tests/experiments_cases.py (expected values from
statsmodels and scipy); conventions, config checks and the cluster label."""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import yaml

from alerts import build, experiments
from alerts.lint import lint
from alerts.model import Record
from alerts.render import plain, prometheus_rule
from bundle.config import BundleConfigError
from bundle.output import dump_yaml
from bundle.schema import BundleConfig
from tests.experiments_cases import SLOW, canary_case, clean_case, istio_case, slow_case
from tests.experiments_example import CANARY, ISTIO, override
from tests.fixtures_bundle import Validate, run_tool, tool


@pytest.fixture
def example(make_config: Callable[[dict[str, Any]], BundleConfig]) -> BundleConfig:
    return make_config(override(canary=CANARY, ranker=ISTIO))


@pytest.mark.parametrize(
    ("name", "definition", "case"),
    [
        ("canary", CANARY, canary_case),
        ("ranker", ISTIO, istio_case),
        ("slow", SLOW, slow_case),
        ("clean", CANARY, clean_case),
    ],
)
def test_rules_pass_promtool_with_reference_statistics(
    make_config: Callable[[dict[str, Any]], BundleConfig],
    tmp_path: Path,
    name: str,
    definition: dict[str, Any],
    case: Callable[[], dict[str, Any]],
) -> None:
    cfg = make_config(override(**{name: definition}))
    (tmp_path / "rules.yaml").write_text(dump_yaml(plain(build(cfg))), encoding="utf-8")
    checked = run_tool([tool("promtool"), "check", "rules", str(tmp_path / "rules.yaml")])
    assert checked.returncode == 0, checked.stdout + checked.stderr
    suite = {"rule_files": ["rules.yaml"], "evaluation_interval": "1m", "tests": [case()]}
    (tmp_path / "test.yaml").write_text(yaml.safe_dump(suite, sort_keys=False), encoding="utf-8")
    result = run_tool([tool("promtool"), "test", "rules", "test.yaml"], cwd=tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr


def test_every_record_of_an_experiment_is_tested(example: BundleConfig) -> None:
    record = re.compile(r"[a-z_]+:[a-z_]+:[a-z_]+")
    tested = {record.findall(check["expr"])[0] for check in canary_case()["promql_expr_test"]}
    records = {r.record for g in experiments.groups(example) for r in g.rules if isinstance(r, Record)}
    assert records and records == tested


def test_experiment_rules_follow_the_alerting_conventions(example: BundleConfig) -> None:
    assert lint(build(example), example.naming.alert_prefix) == []


def test_the_default_bundle_has_no_experiment_rules(bundle_config: BundleConfig) -> None:
    assert experiments.groups(bundle_config) == []


def test_the_cluster_label_is_kept_in_every_grouping(
    make_config: Callable[[dict[str, Any]], BundleConfig],
) -> None:
    cfg = make_config({**override(canary=CANARY), "naming": {"cluster_label": "cluster"}})
    exprs = [rule.expr for group in experiments.groups(cfg) for rule in group.rules]
    groupings = [part for expr in exprs for part in expr.split(" by (")[1:]] + [
        part for expr in exprs for part in expr.split(" on (")[1:]
    ]
    assert groupings and all(part.startswith(("cluster", ")")) for part in groupings)
    assert all(not part.startswith(")") for expr in exprs for part in expr.split(" by (")[1:])


@pytest.mark.parametrize(
    ("change", "problem"),
    [
        ({"alpha": 0.7}, "alpha"),
        ({"start": "yesterday"}, "start"),
        ({"treatment": "6"}, "treatment"),
        ({"proportion": "slow_ratio", "slow_threshold_seconds": 0.1}, "slow_threshold_seconds"),
        ({"planned_trials": {"control": 10}}, "planned_trials"),
        ({"colour": "red"}, "unknown keys"),
        ({"arm_label": "destination_version"}, "arm_label"),
        ({"control": 6}, "control"),
    ],
)
def test_a_bad_experiment_is_named_in_the_error(
    make_config: Callable[[dict[str, Any]], BundleConfig], change: dict[str, Any], problem: str
) -> None:
    with pytest.raises(BundleConfigError, match=rf"experiments\.definitions\.canary.*{problem}"):
        make_config(override(canary={**CANARY, **change}))


def test_a_slow_ratio_compares_requests_above_a_bucket_bound(
    make_config: Callable[[dict[str, Any]], BundleConfig],
) -> None:
    cfg = make_config(
        override(canary={**CANARY, "proportion": "slow_ratio", "slow_threshold_seconds": 0.06746640})
    )
    rules = [
        r for g in plain(build(cfg))["groups"] for r in g["rules"] if r.get("record") == experiments.SUCCESSES
    ]
    assert 'le="0.0674664"' in rules[0]["expr"]


def test_every_experiment_alert_has_a_runbook_section(example: BundleConfig) -> None:
    docs = Path(__file__).parent.parent / "docs"
    runbooks = (docs / "runbooks.md").read_text(encoding="utf-8")
    guide = (docs / "experiments.md").read_text(encoding="utf-8")
    names = {a.name for g in experiments.groups(example) for a in g.alerts}
    assert names and all(f"\n## {name}\n" in f"\n{runbooks}" and name in guide for name in names)


def test_an_unquoted_start_reads_as_the_same_time(
    make_config: Callable[[dict[str, Any]], BundleConfig],
) -> None:
    quoted = experiments.groups(make_config(override(canary=CANARY)))
    unquoted = {**CANARY, "start": datetime(1970, 1, 1, tzinfo=UTC)}
    assert experiments.groups(make_config(override(canary=unquoted))) == quoted


def test_higher_is_better_turns_the_guardrail_around(
    make_config: Callable[[dict[str, Any]], BundleConfig],
) -> None:
    cfg = make_config(override(canary={**CANARY, "higher_is_better": True}))
    worse = next(a for g in experiments.groups(cfg) for a in g.alerts if a.name.endswith("TreatmentWorse"))
    assert worse.expr.startswith(f"(-{experiments.Z}")


def test_experiment_groups_are_valid_prometheusrule_groups(
    example: BundleConfig, validate_prometheusrule: Validate
) -> None:
    obj = prometheus_rule(build(example), example)
    assert validate_prometheusrule(obj) == []
    assert {g["name"]: g.get("interval") for g in obj["spec"]["groups"]}["mlobs-experiment-canary"] == "1m"


def test_the_documented_example_is_a_valid_config(
    make_config: Callable[[dict[str, Any]], BundleConfig],
) -> None:
    guide = (Path(__file__).parent.parent / "docs" / "experiments.md").read_text(encoding="utf-8")
    example = yaml.safe_load(re.search(r"```yaml\n(.*?)```", guide, re.DOTALL).group(1))  # type: ignore[union-attr]
    cfg = make_config(example)
    assert [g.name for g in experiments.groups(cfg)] == [
        "mlobs-experiment-ranker-ab",
        "mlobs-experiment-resnet-v7",
    ]

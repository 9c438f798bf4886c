"""naming.cluster_label: every aggregation and match of every rule keeps it, so clusters never mix."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from alerts import build
from alerts.promtool import run_tests
from alerts.render import plain
from bundle.output import dump_yaml
from bundle.schema import BundleConfig

CASES = Path(__file__).parent / "rules" / "cluster-test.yaml"
# `by (...)`, `on (...)`, `without (...)`, `ignoring (...)`: the label lists a global view must keep whole.
_CLAUSE = re.compile(r"\b(by|on|without|ignoring)\s*\(([^)]*)\)")
_BARE_AGGREGATION = re.compile(r"\b(sum|max|min|avg|count|group|count_values|topk|bottomk|quantile)\s*\(")


@pytest.fixture
def clustered(make_config: Callable[[dict[str, Any]], BundleConfig]) -> BundleConfig:
    return make_config({"naming": {"cluster_label": "cluster"}})


def exprs(cfg: BundleConfig) -> list[str]:
    return [rule["expr"] for group in plain(build(cfg))["groups"] for rule in group["rules"]]


def test_every_by_and_on_clause_names_the_cluster(clustered: BundleConfig) -> None:
    clauses = [(kind, labels) for expr in exprs(clustered) for kind, labels in _CLAUSE.findall(expr)]
    assert clauses
    assert [c for c in clauses if c[0] in ("without", "ignoring")] == []
    assert [c for c in clauses if "cluster" not in [label.strip() for label in c[1].split(",")]] == []


def test_no_aggregation_drops_every_label(clustered: BundleConfig) -> None:
    assert [e for e in exprs(clustered) if _BARE_AGGREGATION.search(e)] == []


def test_an_empty_cluster_label_leaves_the_clauses_alone(bundle_config: BundleConfig) -> None:
    assert not any("cluster" in labels for e in exprs(bundle_config) for _, labels in _CLAUSE.findall(e))


def test_two_clusters_series_do_not_mix(clustered: BundleConfig, tmp_path: Path) -> None:
    cases = {"cluster-test.yaml": yaml.safe_load(CASES.read_text(encoding="utf-8"))}
    assert run_tests(tmp_path, dump_yaml(plain(build(clustered))), cases) == []

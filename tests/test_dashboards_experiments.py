"""The ml-experiments dashboard: house-style lint, every query parsed by promtool, values from the config."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from alerts import experiments as rec
from bundle.schema import BundleConfig
from dashboards import build, experiments
from dashboards.lint import lint, panels, promql
from dashboards.queries import promtool_parse
from tests.experiments_example import CANARY, ISTIO, override


@pytest.fixture
def example(make_config: Callable[[dict[str, Any]], BundleConfig]) -> BundleConfig:
    return make_config(override(canary=CANARY, ranker=ISTIO))


def test_the_dashboard_is_built_only_when_experiments_are_declared(
    bundle_config: BundleConfig, example: BundleConfig
) -> None:
    uids = [board["uid"] for board in build(example)]
    assert example.experiments.dashboard_uid in uids
    assert len(set(uids)) == len(uids)
    assert bundle_config.experiments.dashboard_uid not in [board["uid"] for board in build(bundle_config)]


@pytest.mark.parametrize("cluster_label", ["", "cluster"])
def test_the_dashboard_is_clean_and_every_query_parses(
    make_config: Callable[[dict[str, Any]], BundleConfig], tmp_path: Path, cluster_label: str
) -> None:
    cfg = make_config({**override(canary=CANARY, ranker=ISTIO), "naming": {"cluster_label": cluster_label}})
    board = experiments.build(cfg)
    assert lint(board) == []
    assert promtool_parse(promql(board)) == {}


def test_panels_show_traffic_proportions_z_mde_and_verdict(example: BundleConfig) -> None:
    titled = {p["title"]: p for p in panels(experiments.build(example))}
    exprs = {title: " ".join(t["expr"] for t in p["targets"]) for title, p in titled.items()}
    assert rec.TRIALS in exprs["Trials per arm"]
    assert "sqrt(" in exprs["Proportion per arm"]
    assert rec.BOUNDARY in exprs["z against the guardrail boundary"]
    assert rec.VERDICT in exprs["Verdict"]
    assert "+ 0.005" in exprs["Minimum detectable effect against the minimum effect"]
    assert "+ 0.01" in exprs["Minimum detectable effect against the minimum effect"]

"""The drift, quality, training, registry and exporters sections are checked beyond their types, each problem
named by its key."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from bundle.config import BundleConfigError
from bundle.schema import BundleConfig

MakeConfig = Callable[[dict[str, Any]], BundleConfig]
PSI_OVERRIDE = {"fraud-detector": {"drift": {"metrics": {"psi": {"critical": 0.4}}}}}


@pytest.mark.parametrize(
    ("override", "problem"),
    [
        (
            {"drift": {"metrics": {"psi": {"direction": "up", "warning": 0.1, "critical": 0.2}}}},
            "drift.metrics.psi.direction: must be one of ('higher_is_worse', 'lower_is_worse')",
        ),
        (
            {
                "drift": {
                    "metrics": {"psi": {"direction": "higher_is_worse", "warning": 0.3, "critical": 0.2}}
                }
            },
            "drift.metrics.psi.warning: must be below critical (higher is worse)",
        ),
        (
            {
                "drift": {
                    "metrics": {"p_value": {"direction": "lower_is_worse", "warning": 0.01, "critical": 0.05}}
                }
            },
            "drift.metrics.p_value.warning: must be above critical (lower is worse)",
        ),
        (
            {"drift": {"metrics": {"psi": {"warning": 0.1}}}},
            "drift.metrics.psi: must be a mapping of direction",
        ),
        ({"drift": {"metrics": {}}}, "drift.metrics: must name at least one metric"),
        (
            {"quality": {"metrics": {"auc": {"direction": "higher_is_better", "tolerance": 1.5}}}},
            "quality.metrics.auc.tolerance: must be a relative shortfall above 0 and below 1",
        ),
        (
            {"quality": {"metrics": {"psi": {"direction": "lower_is_better", "tolerance": 0.1}}}},
            "quality.metrics: must not reuse drift metric names ['psi']",
        ),
        ({"training": {"window": "a week"}}, "training.window: must be a Prometheus duration"),
        ({"training": {"min_runs": 0}}, "training.min_runs: must be an integer of at least 1"),
        ({"training": {"success_ratio_target": 1.5}}, "training.success_ratio_target: must be a ratio"),
        (
            {"training": {"experiments": {"train-a": {"no_success_for": "soon"}}}},
            "training.experiments.train-a.no_success_for: must be a Prometheus duration",
        ),
        (
            {"training": {"experiments": {"train-a": {"min_runs": 3}}}},
            "training.experiments.train-a: must be a mapping of no_success_for",
        ),
        (
            {"registry": {"availability_objective": 1.0}},
            "registry.availability_objective: must be a ratio in (0, 1)",
        ),
        ({"registry": {"production_alias": ""}}, "registry.production_alias: must be an MLflow alias name"),
        (
            {"registry": {"items_dropped_window": "30"}},
            "registry.items_dropped_window: must be a Prometheus duration",
        ),
        ({"exporters": {"targets_down_ratio": 0}}, "exporters.targets_down_ratio: must be a ratio"),
        (
            {
                "models": {
                    "overrides": {"fraud-detector": {"drift": {"metrics": {"psi": {"critical": 0.05}}}}}
                }
            },
            "models.overrides.fraud-detector.drift.metrics.psi.warning: must be below critical",
        ),
        (
            {"models": {"overrides": {"fraud-detector": {"drift": {"metrics": {"kl": {"critical": 0.5}}}}}}},
            "models.overrides.fraud-detector.drift.metrics: unknown metrics ['kl']",
        ),
        (
            {"models": {"overrides": {"fraud-detector": {"quality": {"tolerance": 0.2}}}}},
            "models.overrides.fraud-detector.quality: may only hold metrics",
        ),
    ],
)
def test_a_bad_value_is_named_by_its_key(
    make_config: MakeConfig, override: dict[str, Any], problem: str
) -> None:
    with pytest.raises(BundleConfigError) as raised:
        make_config(override)
    assert problem in str(raised.value)


def test_a_valid_model_override_passes(make_config: MakeConfig) -> None:
    cfg = make_config({"models": {"overrides": PSI_OVERRIDE}})
    assert cfg.models.overrides["fraud-detector"]["drift"]["metrics"]["psi"]["critical"] == 0.4


def test_serving_overrides_are_left_to_their_own_checks(make_config: MakeConfig) -> None:
    cfg = make_config(
        {"models": {"overrides": {"ranking": {"serving": {"latency_p95_target_seconds": 0.25}}}}}
    )
    assert "ranking" in cfg.models.overrides

"""The serving, slo and models sections: checks beyond types, and the latency bounds the SLO may use."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from bundle.config import BundleConfigError
from bundle.latency_bounds import BOUNDS, bucket_le, neighbours
from bundle.schema import BundleConfig
from exporter.tfserving.histograms import le_seconds

REAL_PAGE = Path(__file__).parent / "fixtures" / "tfserving" / "tfserving_metrics_2020_bert_two_versions.txt"


def test_bounds_are_real_tf_servings_as_the_exporter_converts_them() -> None:
    first_series = 'model_path="/models/bert/16",stage="init_graph"'
    les = re.findall(rf'load_latency_by_stage_bucket{{{first_series},le="([^"]+)"}}', REAL_PAGE.read_text())
    assert les[-1] == "+Inf"
    assert tuple(le_seconds(le) for le in les[:-1]) == BOUNDS


def test_the_default_threshold_is_the_bound_above_100ms(bundle_config: BundleConfig) -> None:
    assert bucket_le(bundle_config.slo.latency_threshold_seconds) == "0.12144"
    assert neighbours(0.1) == (0.0674664, 0.12144)


def problems(make_config: Callable[[dict[str, Any]], BundleConfig], override: dict[str, Any]) -> str:
    with pytest.raises(BundleConfigError) as raised:
        make_config(override)
    return str(raised.value)


@pytest.mark.parametrize(
    ("override", "message"),
    [
        (
            {"slo": {"latency_threshold_seconds": 0.12143953}},
            "the nearest are 0.0674664 (67.47ms) and 0.12144",
        ),
        ({"slo": {"latency_threshold_seconds": 5000.0}}, "the nearest are 1474.76 (1474760ms)"),
        ({"slo": {"period": "7d"}}, "slo.period: must be one of 28d, 30d, 4w"),
        (
            {"slo": {"availability_objective": 1.0}},
            "slo.availability_objective: must be an objective in (0, 1)",
        ),
        ({"serving": {"client_error_codes": ["OK"]}}, "serving.client_error_codes: must be non-OK TF status"),
        ({"serving": {"rate_window": "30s"}}, "serving.rate_window: must span at least 4 scrape intervals"),
        ({"serving": {"traffic_drop_offset": "a week"}}, "serving.traffic_drop_offset: must be a Prometheus"),
        ({"serving": {"model_names": {"a": "b", "b": "c"}}}, "must not chain renames"),
        (
            {"models": {"overrides": {"m": {"serving": {"latency_for": "1h"}}}}},
            "cannot be overridden per model",
        ),
        (
            {"models": {"overrides": {"m": {"slo": {"latency_threshold_seconds": 0.1}}}}},
            "models.overrides.m.slo",
        ),
        ({"models": {"overrides": {"m": {"alerts": {}}}}}, "models.overrides.m.alerts: must be one of"),
    ],
)
def test_a_bad_value_is_named_by_its_key(
    make_config: Callable[[dict[str, Any]], BundleConfig], override: dict[str, Any], message: str
) -> None:
    assert message in problems(make_config, override)


def test_overrides_of_the_other_areas_are_theirs_to_check(
    make_config: Callable[[dict[str, Any]], BundleConfig],
) -> None:
    cfg = make_config(
        {"models": {"overrides": {"fraud": {"drift": {"metrics": {"psi": {"critical": 0.4}}}}}}}
    )
    assert "fraud" in cfg.models.overrides

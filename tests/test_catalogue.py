"""The catalogue declares every metric once: it must follow Prometheus naming and match the docs."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from exporter.catalogue import all_metrics
from exporter.catalogue.reference import render
from exporter.catalogue.spec import MetricSpec

ROOT = Path(__file__).resolve().parent.parent
BASE_UNITS = ("seconds", "bytes", "celsius", "watts", "joules", "hertz", "ratio", "bytes_per_second")
NAME = re.compile(r"^[a-z][a-z0-9_]*$")
LABEL = re.compile(r"^[a-z][a-z0-9_]*$")


def test_docs_metrics_reference_is_up_to_date() -> None:
    current = (ROOT / "docs" / "metrics.md").read_text(encoding="utf-8")
    assert current == render(), "docs/metrics.md is stale: run `make docs` and commit it"


@pytest.mark.parametrize("spec", all_metrics(), ids=lambda s: s.name)
def test_metric_follows_naming_conventions(spec: MetricSpec) -> None:
    assert NAME.match(spec.name), spec.name
    assert (
        spec.help.strip()
        and (spec.help[0].isupper() or spec.help[0].isdigit())
        and spec.help.rstrip().endswith(".")
    ), spec.help
    for label in spec.labels:
        assert LABEL.match(label) and not label.startswith("__") and label != "le", label
    assert len(set(spec.labels)) == len(spec.labels)
    if spec.unit:
        assert spec.unit in BASE_UNITS, f"{spec.name}: {spec.unit} is not a base unit"
        stem = spec.name.removesuffix("_total").removesuffix("_bucket")
        assert stem.endswith("_" + spec.unit), f"{spec.name} must end in its unit {spec.unit}"
    if spec.name.endswith("_info"):
        assert spec.type == "gauge"


def test_spec_rejects_counter_without_total_suffix() -> None:
    with pytest.raises(ValueError, match="must end in _total"):
        MetricSpec("x_errors", "counter", "Errors.")
    with pytest.raises(ValueError, match="must not end in _total"):
        MetricSpec("x_total", "gauge", "Not a counter.")

"""The metric catalogue: every family the exporter can emit, declared once as data.

Each collector's specs live in a module of its own; `ALL` gathers them for the generated
reference (docs/metrics.md), the dashboards and the alerts.
"""

from __future__ import annotations

from importlib import import_module

from exporter.catalogue.spec import MetricSpec

# One module per collector, in the order the reference lists them.
MODULES = ("core", "gpu", "tfserving", "mlflow", "attribution")


def all_metrics() -> tuple[MetricSpec, ...]:
    """Every declared metric, checked for duplicate names."""
    specs: list[MetricSpec] = []
    for module in MODULES:
        specs.extend(import_module(f"exporter.catalogue.{module}").METRICS)
    names = [s.name for s in specs]
    duplicates = {n for n in names if names.count(n) > 1}
    if duplicates:
        raise ValueError(f"metrics declared twice: {sorted(duplicates)}")
    return tuple(specs)


def by_name() -> dict[str, MetricSpec]:
    return {spec.name: spec for spec in all_metrics()}

"""The metric catalogue: every family the exporter can emit, declared once as data.

`spec` is the shape of a declaration; the exporter's own series are declared in `core`, and each upstream
declares its families in its package's `catalogue` module. `all_metrics` gathers them for the generated
reference (`reference` writes docs/metrics.md), the dashboards and the alerts. `families` is what
collectors fill from these specs on each scrape.
"""

from __future__ import annotations

from importlib import import_module

from exporter.catalogue.spec import MetricSpec

# One module per collector, in the order the reference lists them.
MODULES = {
    "core": "exporter.catalogue.core",
    "gpu": "exporter.gpu.catalogue",
    "tfserving": "exporter.tfserving.catalogue",
    "mlflow": "exporter.mlflow.catalogue",
    "attribution": "exporter.attribution.catalogue",
}


def all_metrics() -> tuple[MetricSpec, ...]:
    """Every declared metric, checked for duplicate names."""
    specs: list[MetricSpec] = []
    for module in MODULES.values():
        specs.extend(import_module(module).METRICS)
    names = [s.name for s in specs]
    duplicates = {n for n in names if names.count(n) > 1}
    if duplicates:
        raise ValueError(f"metrics declared twice: {sorted(duplicates)}")
    return tuple(specs)


def by_name() -> dict[str, MetricSpec]:
    return {spec.name: spec for spec in all_metrics()}

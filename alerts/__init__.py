"""Alerting and recording rules per area, built from the bundle config; links are added in one pass."""

from __future__ import annotations

from collections.abc import Callable

from alerts import experiments, exporters, gpu, models, panels, registry, serving, slo, training
from alerts.boundary import Boundary
from alerts.links import with_links
from alerts.model import Group
from bundle.schema import BundleConfig

# One module per area, each with `groups(cfg) -> list[Group]` and, where its thresholds come from the config,
# `boundaries(cfg) -> list[Boundary]` (alerts/boundary.py) for the config-derived promtool cases.
AREAS = (gpu, serving, slo, models, training, registry, exporters, experiments, panels)


def boundaries(cfg: BundleConfig) -> list[Boundary]:
    """Every area's boundary specs for the config's own thresholds and durations."""
    found: list[Boundary] = []
    for area in AREAS:
        declared: Callable[[BundleConfig], list[Boundary]] | None = getattr(area, "boundaries", None)
        if declared is not None:
            found.extend(declared(cfg))
    return found


def build(cfg: BundleConfig) -> list[Group]:
    """Every area's groups, in area order, with runbook and dashboard links."""
    return with_links([group for area in AREAS for group in area.groups(cfg)], cfg.links)

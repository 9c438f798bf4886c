"""Alerting and recording rules per area, built from the bundle config; links are added in one pass."""

from __future__ import annotations

from alerts import experiments, exporters, gpu, models, panels, registry, serving, slo, training
from alerts.boundary import Boundary
from alerts.links import with_links
from alerts.model import Group
from bundle.schema import BundleConfig

# One module per area, each with `groups(cfg) -> list[Group]` and `boundaries(cfg) -> list[Boundary]`
# (alerts/boundary.py): the promtool cases derived from the config's thresholds and durations.
AREAS = (gpu, serving, slo, models, training, registry, exporters, experiments, panels)


def boundaries(cfg: BundleConfig) -> list[Boundary]:
    """Every area's boundary specs for the config's own thresholds and durations."""
    return [boundary for area in AREAS for boundary in area.boundaries(cfg)]


def build(cfg: BundleConfig) -> list[Group]:
    """Every area's groups, in area order, with runbook and dashboard links."""
    return with_links([group for area in AREAS for group in area.groups(cfg)], cfg.links)

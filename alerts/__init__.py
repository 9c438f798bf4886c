"""Alerting and recording rules per area, built from the bundle config; links are added in one pass."""

from __future__ import annotations

from alerts import gpu, panels
from alerts.links import with_links
from alerts.model import Group
from bundle.schema import BundleConfig

# One module per area, each with `groups(cfg) -> list[Group]`.
AREAS = (gpu, panels)


def build(cfg: BundleConfig) -> list[Group]:
    """Every area's groups, in area order, with runbook and dashboard links."""
    return with_links([group for area in AREAS for group in area.groups(cfg)], cfg.links)

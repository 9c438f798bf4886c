"""Grafana dashboards built from the bundle config, through the house style in `dashboards.style`."""

from __future__ import annotations

from typing import Any

from bundle.schema import BundleConfig
from dashboards import gpu_fleet, gpu_node, models, overview, serving

# One module per dashboard, each with `build(cfg) -> dict` (Grafana's JSON model).
DASHBOARDS = (overview, serving, models, gpu_fleet, gpu_node)


def build(cfg: BundleConfig) -> list[dict[str, Any]]:
    return [module.build(cfg) for module in DASHBOARDS]

"""Grafana dashboards built from the bundle config, through the house style in `dashboards.style`."""

from __future__ import annotations

from typing import Any

from bundle.schema import BundleConfig
from dashboards import overview

# One module per dashboard, each with `build(cfg) -> dict` (Grafana's JSON model).
DASHBOARDS = (overview,)


def build(cfg: BundleConfig) -> list[dict[str, Any]]:
    return [module.build(cfg) for module in DASHBOARDS]

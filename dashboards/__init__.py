"""Grafana dashboards built from the bundle config, through the house style in `dashboards.style`."""

from __future__ import annotations

from typing import Any

from bundle.schema import BundleConfig
from dashboards import experiments, overview

# One module per dashboard, each with `build(cfg) -> dict` (Grafana's JSON model) and optionally
# `wanted(cfg) -> bool` when the config may leave it out.
DASHBOARDS = (overview, experiments)


def build(cfg: BundleConfig) -> list[dict[str, Any]]:
    return [module.build(cfg) for module in DASHBOARDS if getattr(module, "wanted", lambda _: True)(cfg)]

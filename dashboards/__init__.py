"""Grafana dashboards built from the bundle config, through the house style in `dashboards.style`.

One module per dashboard (overview, serving, models, gpu_fleet, gpu_node); rows shared or split out live
beside them (gpu and attribution: per-GPU rows; serving_health: SLO, targets and GPUs of serving; registry:
the registry's health). `scope` holds the selectors, cluster variable and links every dashboard shares;
`lint` and `queries` check them and list their queries; `docs` writes their panels into docs/dashboards.md.
"""

from __future__ import annotations

from typing import Any

from bundle.schema import BundleConfig
from dashboards import experiments, gpu_fleet, gpu_node, models, overview, serving

# One module per dashboard, each with `build(cfg) -> dict` (Grafana's JSON model) and optionally
# `wanted(cfg) -> bool` when the config may leave it out.
DASHBOARDS = (overview, serving, models, gpu_fleet, gpu_node, experiments)


def build(cfg: BundleConfig) -> list[dict[str, Any]]:
    return [module.build(cfg) for module in DASHBOARDS if getattr(module, "wanted", lambda _: True)(cfg)]

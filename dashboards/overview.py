"""`ml-overview`: the landing dashboard of the ML platform, one row per area (GPUs and who holds them)."""

from __future__ import annotations

from typing import Any

from bundle.promql import Re
from bundle.schema import BundleConfig
from dashboards import attribution, gpu
from dashboards.style import dashboard, query_variable


def build(cfg: BundleConfig) -> dict[str, Any]:
    d = cfg.dashboards
    node = cfg.naming.node_label
    info = gpu.metrics(cfg)("nvidia_gpu_info")
    info_on_nodes = gpu.metrics(cfg)("nvidia_gpu_info", **{node: Re("$node")})
    sections = [gpu.section(cfg)]
    if cfg.attribution.enabled:
        sections.append(attribution.section(cfg))
    return dashboard(
        uid=d.overview_uid,
        title=d.overview_title,
        description="GPU efficiency and health across the ML platform's nodes, and the pods and models "
        "holding each GPU.",
        tags=d.tags,
        refresh=d.refresh,
        time_from=d.time_from,
        variables=[
            query_variable("node", "Node", f"label_values({info}, {node})"),
            query_variable("gpu", "GPU", f"label_values({info_on_nodes}, gpu)"),
        ],
        sections=sections,
    )

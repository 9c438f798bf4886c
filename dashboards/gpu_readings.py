"""The catalogue's per-GPU readings that no curated panel of ml-gpu-node draws, one panel each.

A metric added to the GPU collector's catalogue is on the GPU node dashboard from its first release; a
curated panel (in `dashboards.gpu_node` or `dashboards.gpu`) replaces its generic one when someone writes it.
"""

from __future__ import annotations

from collections.abc import Sequence

from bundle.schema import BundleConfig
from dashboards import gpu
from dashboards.queries import metric_names
from dashboards.style import Query, Section, rate, timeseries
from exporter.catalogue import all_metrics
from exporter.catalogue.spec import MetricSpec

TITLE = "More GPU readings"
# Catalogue units -> Grafana units (of the value drawn: a counter is drawn as its rate).
GAUGE_UNITS = {
    "ratio": "percentunit",
    "celsius": "celsius",
    "watts": "watt",
    "bytes": "bytes",
    "hertz": "hertz",
    "seconds": "s",
    "bytes_per_second": "Bps",
    "joules": "joule",
}
RATE_UNITS = {"bytes": "Bps", "seconds": "percentunit", "joules": "watt", "": "ops"}


def plain_per_gpu(spec: MetricSpec) -> bool:
    """A GPU collector family with one series per GPU and no other label: drawable without knowing more."""
    return spec.collector == "gpu" and spec.labels == ("gpu", "uuid") and spec.type != "histogram"


def drawn_names(sections: Sequence[Section]) -> set[str]:
    return {
        name
        for section in sections
        for panel in section.panels
        for query in panel.queries
        for name in metric_names(query.expr)
    }


def section(cfg: BundleConfig, drawn: set[str]) -> Section | None:
    """One panel per plain per-GPU family not in `drawn`; None when every one has its curated panel."""
    m = gpu.metrics(cfg)
    scope = gpu.variables_scope(cfg)
    legend = f"{{{{{cfg.naming.node_label}}}}} GPU {{{{gpu}}}}"
    panels = []
    for spec in all_metrics():
        if not plain_per_gpu(spec) or spec.name in drawn:
            continue
        selector = m(spec.name, **scope)
        if spec.type == "counter":
            expr, unit = rate(selector), RATE_UNITS.get(spec.unit, "short")
            description = f"{spec.help} Per-second rate of {spec.name}."
        else:
            expr, unit = selector, GAUGE_UNITS.get(spec.unit, "short")
            description = f"{spec.help} ({spec.name})"
        words = spec.name.removeprefix("nvidia_gpu_").removesuffix("_total").removesuffix(f"_{spec.unit}")
        title = words.replace("_", " ").capitalize()
        panels.append(timeseries(title, description, unit, Query(expr, legend)))
    return Section(TITLE, tuple(panels)) if panels else None

"""What every dashboard shares: selectors per scrape job and for recording rules, all carrying the cluster
label when one is configured (naming.cluster_label), the common variables, and the links between dashboards.

With a cluster label every selector gains `cluster=~"$cluster"` and every grouping keeps the label, as
kubernetes-mixin does, so one dashboard serves a global view (Thanos, Mimir) as well as one Prometheus.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from grafanalib import core as g

from bundle import promql
from bundle.promql import Metrics, Re, spec
from bundle.schema import BundleConfig
from dashboards.style import Link, Section, dashboard, query_variable

HISTOGRAM_SERIES = ("bucket", "count", "sum")


@dataclass(frozen=True)
class Scoped(Metrics):
    """`Metrics` whose selectors match the dashboard's cluster and whose groupings keep the cluster label."""

    def _cluster(self) -> dict[str, str | Re]:
        return {self.cluster_label: Re("$cluster")} if self.cluster_label else {}

    def __call__(self, name: str, **matchers: str | Re) -> str:
        return super().__call__(name, **self._cluster(), **matchers)

    def by(self, name: str, *labels: str) -> str:
        """As `Metrics.by`, the cluster label first; a histogram's series also carry `le`."""
        every = ((self.cluster_label,) if self.cluster_label else ()) + labels
        histogram = spec(name).type == "histogram"
        super().by(name, *(label for label in every if not (histogram and label == "le")))
        return ", ".join(every)

    def histogram(self, name: str, series: str, **matchers: str | Re) -> str:
        """The `_bucket`, `_count` or `_sum` series of the histogram `name`."""
        if spec(name).type != "histogram" or series not in HISTOGRAM_SERIES:
            raise ValueError(f"{name}: no {series} series (a {spec(name).type})")
        selector = self(name, **matchers)
        return f"{name}_{series}{selector[len(name) :]}"


def _metrics(cfg: BundleConfig, job: str) -> Scoped:
    n = cfg.naming
    labels = {n.job_label, n.node_label} | ({n.cluster_label} if n.cluster_label else set())
    return Scoped(n.job_label, job, frozenset(labels), n.cluster_label)


def gpu_metrics(cfg: BundleConfig) -> Scoped:
    """Series of the GPU DaemonSet: GPUs, attribution."""
    return _metrics(cfg, cfg.exporter.gpu_job)


def serving_metrics(cfg: BundleConfig) -> Scoped:
    """TF Serving series, from the job serving.job (the GPU DaemonSet by default)."""
    return _metrics(cfg, cfg.serving.job)


def mlflow_metrics(cfg: BundleConfig) -> Scoped:
    """MLflow series, from the cluster-wide Deployment."""
    return _metrics(cfg, cfg.exporter.cluster_job)


def grouping(cfg: BundleConfig, *labels: str) -> str:
    """`labels` for a by()/on() over recording rules or ALERTS, the cluster label first when configured."""
    cluster = cfg.naming.cluster_label
    return ", ".join(((cluster,) if cluster else ()) + labels)


def selector(cfg: BundleConfig, name: str, **matchers: str | Re) -> str:
    """A selector of a recording rule (alerts/records.py) or of ALERTS, in the dashboard's cluster."""
    cluster = cfg.naming.cluster_label
    every: dict[str, str | Re] = {cluster: Re("$cluster")} if cluster else {}
    every.update(matchers)
    return promql.selector(name, **every)


def cluster_variables(cfg: BundleConfig, m: Scoped, name: str) -> list[g.Template]:
    """The cluster variable, over the series `name`, when a cluster label is configured; else none."""
    label = cfg.naming.cluster_label
    if not label:
        return []
    every_cluster = Metrics(m.job_label, m.job, m.target_labels)(name)
    return [query_variable("cluster", "Cluster", f"label_values({every_cluster}, {label})")]


def links(cfg: BundleConfig, here: str) -> list[Link]:
    """A link to every other dashboard of the bundle, the landing page first."""
    d = cfg.dashboards
    every = [
        Link(d.overview_title, d.overview_uid),
        Link("Model serving", d.serving_uid),
        Link("Models and quality", d.models_uid),
        Link("GPU fleet", d.gpu_fleet_uid),
        Link("GPU node", d.gpu_node_uid),
    ]
    return [link for link in every if link.uid != here]


def board(
    cfg: BundleConfig,
    uid: str,
    title: str,
    description: str,
    variables: Sequence[g.Template],
    sections: Sequence[Section],
) -> dict[str, Any]:
    """A dashboard of the bundle: the configured tags, refresh and time range, and links to the others."""
    d = cfg.dashboards
    return dashboard(
        uid=uid,
        title=title,
        description=description,
        tags=d.tags,
        refresh=d.refresh,
        time_from=d.time_from,
        variables=variables,
        sections=sections,
        links=links(cfg, uid),
    )

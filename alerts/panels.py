"""Recording rules for dashboard panels that are too slow on raw series at fleet scale (docs/scale.md).

A panel that computes a quantile from every pod's buckets on every refresh costs its whole range of raw
samples each time; recorded once per evaluation, the same panel reads a few series. Each record keeps the
cluster label (naming.cluster_label) beside the labels the panel shows.
"""

from __future__ import annotations

from alerts.model import Group, Record
from bundle.promql import Metrics
from bundle.schema import BundleConfig

GROUP = "mlobs-panel-records"
RUNTIME = "tfserving_runtime_duration_seconds"


def runtime_p95_record(cfg: BundleConfig) -> str:
    """Per model version and runtime: P95 of the time spent in the model runtime per request."""
    return f"model_version:{RUNTIME}:p95_rate{cfg.serving.rate_window}"


def groups(cfg: BundleConfig) -> list[Group]:
    n = cfg.naming
    cluster = (n.cluster_label,) if n.cluster_label else ()
    m = Metrics(n.job_label, cfg.serving.job, frozenset({n.job_label, n.node_label, *cluster}))
    selector = m(RUNTIME)
    buckets = f"{RUNTIME}_bucket{selector[len(RUNTIME) :]}"
    by = m.by(RUNTIME, *cluster, "namespace", "model", "version", "runtime")
    runtime_p95 = Record(
        runtime_p95_record(cfg),
        f"histogram_quantile(0.95, sum by ({by}, le) (rate({buckets}[{cfg.serving.rate_window}])))",
    )
    return [Group(GROUP, (runtime_p95,), dashboard_uid=cfg.dashboards.serving_uid)]

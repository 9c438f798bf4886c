"""Selectors of one scrape job's series for the rules: the job's matcher, and the cluster label
(naming.cluster_label) first in every grouping `Metrics.by` builds."""

from __future__ import annotations

from bundle.promql import Metrics
from bundle.schema import BundleConfig


def job_metrics(cfg: BundleConfig, job: str, *target_labels: str) -> Metrics:
    """`Metrics` of `job`'s series, which carry the job label and `target_labels` besides their own."""
    n = cfg.naming
    return Metrics(n.job_label, job, frozenset({n.job_label, *target_labels}), n.cluster_label)


def cluster_metrics(cfg: BundleConfig) -> Metrics:
    """Selectors of the cluster Deployment's series (MLflow)."""
    return job_metrics(cfg, cfg.exporter.cluster_job)

"""The cluster label in every by()/on() of the model, training, registry and exporter rules.

A stand-in for the shared cluster-label helper of bundle/promql.py: one function, so the swap is one import.
"""

from __future__ import annotations

from bundle.schema import BundleConfig


def by_labels(cfg: BundleConfig, *labels: str) -> str:
    """`labels` for by (...)/on (...), naming.cluster_label first when one is configured."""
    cluster = cfg.naming.cluster_label
    return ", ".join((cluster, *labels) if cluster else labels)

"""Kubernetes metadata shared by every generated object: one set of recommended labels, one namespace."""

from __future__ import annotations

from typing import Any

from bundle.schema import BundleConfig

APP = "mlobs-exporter"
PART_OF = "mlobs"


def app_labels(component: str) -> dict[str, str]:
    """The labels that select one component's pods (stable: part of immutable selectors)."""
    return {"app.kubernetes.io/name": APP, "app.kubernetes.io/component": component}


def metadata(cfg: BundleConfig, name: str, component: str, selected: bool = False) -> dict[str, Any]:
    """`metadata` of a namespaced object; `selected` adds the labels Prometheus' operator selects on."""
    labels = {**app_labels(component), "app.kubernetes.io/part-of": PART_OF}
    if selected:
        labels.update(cfg.naming.selector_labels)
    return {"name": name, "namespace": cfg.naming.namespace, "labels": labels}


def cluster_metadata(cfg: BundleConfig, name: str, component: str) -> dict[str, Any]:
    """`metadata` of a cluster-scoped object; its name carries the namespace so two installs never collide."""
    meta = metadata(cfg, f"{name}-{cfg.naming.namespace}", component)
    del meta["namespace"]
    return meta

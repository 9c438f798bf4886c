"""Scrape and deploy objects: the exporter workloads, their ServiceMonitors and the dashboard ConfigMaps."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from bundle.schema import BundleConfig
from servicemonitors import cluster, common, dashboards, gpu


def objects(cfg: BundleConfig, dashboard_models: Sequence[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """Every object, keyed by the file it is written to."""
    return {
        "serviceaccount.yaml": common.service_account(cfg),
        **gpu.objects(cfg),
        **cluster.objects(cfg),
        **dashboards.objects(cfg, dashboard_models),
    }


def kustomization(files: Iterable[str]) -> dict[str, Any]:
    return {
        "apiVersion": "kustomize.config.k8s.io/v1beta1",
        "kind": "Kustomization",
        "resources": sorted(files),
    }

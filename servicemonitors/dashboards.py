"""Dashboard ConfigMaps for Grafana's sidecar: one dashboard per ConfigMap, each under kubectl's limit."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import yaml

from bundle.kube import metadata
from bundle.schema import BundleConfig
from dashboards.style import to_json

# Client-side `kubectl apply` stores the object in an annotation limited to 256 KiB.
MAX_CONFIGMAP_BYTES = 256 * 1024


class ConfigMapTooLarge(ValueError):
    pass


def configmap(cfg: BundleConfig, dashboard: dict[str, Any]) -> dict[str, Any]:
    uid = dashboard["uid"]
    meta = metadata(cfg, f"mlobs-dashboard-{uid}", "dashboards")
    meta["labels"].update(cfg.dashboards.configmap_labels)
    obj = {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": meta,
        "data": {f"{uid}.json": to_json(dashboard)},
    }
    size = len(yaml.safe_dump(obj).encode())
    if size > MAX_CONFIGMAP_BYTES:
        raise ConfigMapTooLarge(f"dashboard {uid}: its ConfigMap is {size} bytes, over {MAX_CONFIGMAP_BYTES}")
    return obj


def objects(cfg: BundleConfig, dashboards: Sequence[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {f"dashboard-{d['uid']}.yaml": configmap(cfg, d) for d in dashboards}

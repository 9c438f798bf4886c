"""Pieces both exporter workloads share: the hardened container, its pod, Service and ServiceMonitor.

Probes: readiness is /health (503 while a collector is unhealthy, so `kubectl get pods` shows a sick GPU
node), liveness is the landing page. A liveness probe on /health would restart the exporter whenever a GPU
is lost and crash-loop it, taking away the very series (nvidia_gpu_up 0) the GPU-lost alert needs; the
exporter re-initialises NVML by itself. Services publish not-ready addresses so an unhealthy exporter is
still scraped.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from bundle.kube import APP, app_labels, metadata
from bundle.schema import BundleConfig

PORT_NAME = "metrics"
SERVICE_ACCOUNT = APP
# nobody:nogroup; plain NVML needs no privileges (the device nodes are world-accessible).
UNPRIVILEGED_UID = 65534


def container(
    cfg: BundleConfig,
    args: Sequence[str],
    resources: Mapping[str, Mapping[str, str]],
    env: Sequence[Mapping[str, Any]],
) -> dict[str, Any]:
    port = cfg.exporter.port
    return {
        "name": "exporter",
        "image": cfg.exporter.image,
        "imagePullPolicy": cfg.exporter.image_pull_policy,
        "args": [f"--web.listen-address=:{port}", *args],
        "env": [dict(e) for e in env],
        "ports": [{"name": PORT_NAME, "containerPort": port, "protocol": "TCP"}],
        "readinessProbe": {
            "httpGet": {"path": "/health", "port": PORT_NAME},
            "periodSeconds": 10,
            "timeoutSeconds": 5,
        },
        "livenessProbe": {
            "httpGet": {"path": "/", "port": PORT_NAME},
            "periodSeconds": 20,
            "timeoutSeconds": 5,
            "failureThreshold": 3,
        },
        "resources": {kind: dict(amounts) for kind, amounts in resources.items()},
        "securityContext": {
            "allowPrivilegeEscalation": False,
            "privileged": False,
            "readOnlyRootFilesystem": True,
            "capabilities": {"drop": ["ALL"]},
        },
        "volumeMounts": [{"name": "tmp", "mountPath": "/tmp"}],
    }


def pod_template(
    component: str,
    main: dict[str, Any],
    *,
    run_as: int = UNPRIVILEGED_UID,
    token: bool = False,
    volumes: Sequence[Mapping[str, Any]] = (),
    **spec: Any,
) -> dict[str, Any]:
    """A pod running `main` (as nobody unless `run_as` says otherwise); a service-account token only when
    `token`: by default the exporter never calls the API."""
    return {
        "metadata": {"labels": app_labels(component)},
        "spec": {
            "serviceAccountName": SERVICE_ACCOUNT,
            "automountServiceAccountToken": token,
            "securityContext": {
                "runAsNonRoot": run_as != 0,
                "runAsUser": run_as,
                "runAsGroup": UNPRIVILEGED_UID,
                "seccompProfile": {"type": "RuntimeDefault"},
            },
            **spec,
            "containers": [main],
            "volumes": [{"name": "tmp", "emptyDir": {"sizeLimit": "16Mi"}}, *(dict(v) for v in volumes)],
        },
    }


def service_account(cfg: BundleConfig) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "ServiceAccount",
        "metadata": metadata(cfg, SERVICE_ACCOUNT, "exporter"),
        "automountServiceAccountToken": False,
    }


def service(cfg: BundleConfig, name: str, component: str, headless: bool) -> dict[str, Any]:
    spec: dict[str, Any] = {
        "selector": app_labels(component),
        "ports": [{"name": PORT_NAME, "port": cfg.exporter.port, "targetPort": PORT_NAME, "protocol": "TCP"}],
        "publishNotReadyAddresses": True,
    }
    if headless:
        spec = {"clusterIP": "None", **spec}
    return {"apiVersion": "v1", "kind": "Service", "metadata": metadata(cfg, name, component), "spec": spec}


def service_monitor(
    cfg: BundleConfig,
    name: str,
    component: str,
    relabelings: Sequence[Mapping[str, Any]] = (),
    metric_relabelings: Sequence[Mapping[str, Any]] = (),
) -> dict[str, Any]:
    """Scrapes the Service `name`; its job label is the Service name (the operator's default)."""
    endpoint: dict[str, Any] = {
        "port": PORT_NAME,
        "path": "/metrics",
        "scheme": "http",
        "interval": cfg.exporter.scrape_interval,
        "scrapeTimeout": cfg.exporter.scrape_timeout,
    }
    if relabelings:
        endpoint["relabelings"] = [dict(r) for r in relabelings]
    if metric_relabelings:
        endpoint["metricRelabelings"] = [dict(r) for r in metric_relabelings]
    return {
        "apiVersion": "monitoring.coreos.com/v1",
        "kind": "ServiceMonitor",
        "metadata": metadata(cfg, name, component, selected=True),
        "spec": {
            "selector": {"matchLabels": app_labels(component)},
            "namespaceSelector": {"matchNames": [cfg.naming.namespace]},
            "endpoints": [endpoint],
        },
    }

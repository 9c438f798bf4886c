"""The cluster-wide exporter: one replica running the collectors that are not per node (MLflow)."""

from __future__ import annotations

from typing import Any

from bundle.kube import app_labels, metadata
from bundle.schema import BundleConfig
from servicemonitors.common import container, pod_template, service, service_monitor

COMPONENT = "cluster"
ARGS = ("--no-collector.gpu", "--collector.mlflow")


def deployment(cfg: BundleConfig) -> dict[str, Any]:
    e = cfg.exporter
    env = [{"name": "MLFLOW_TRACKING_URI", "value": e.mlflow_tracking_uri}]
    # The exporter reads the drift and quality keys the alerts and dashboards judge.
    metrics = [f"--mlflow.drift-metric={key}" for key in cfg.drift.metrics]
    metrics += [f"--mlflow.quality-metric={key}" for key in cfg.quality.metrics]
    main = container(cfg, [*ARGS, *metrics, *e.cluster_extra_args], e.cluster_resources, env)
    if e.mlflow_credentials_secret:
        main["envFrom"] = [{"secretRef": {"name": e.mlflow_credentials_secret}}]
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": metadata(cfg, e.cluster_job, COMPONENT),
        "spec": {
            "replicas": 1,
            # Recreate: two replicas would export the same registry series twice during a rollout.
            "strategy": {"type": "Recreate"},
            "selector": {"matchLabels": app_labels(COMPONENT)},
            "template": pod_template(COMPONENT, main),
        },
    }


# The operator labels every target with `endpoint` (the port name); the MLflow series own that name for the
# REST call, which Prometheus would otherwise rename to `exported_endpoint`.
DROP_TARGET_ENDPOINT = {"action": "labeldrop", "regex": "endpoint"}


def objects(cfg: BundleConfig) -> dict[str, dict[str, Any]]:
    job = cfg.exporter.cluster_job
    return {
        "cluster-deployment.yaml": deployment(cfg),
        "cluster-service.yaml": service(cfg, job, COMPONENT, headless=False),
        "cluster-servicemonitor.yaml": service_monitor(cfg, job, COMPONENT, [DROP_TARGET_ENDPOINT]),
    }

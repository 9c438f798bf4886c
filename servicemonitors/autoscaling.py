"""Autoscaling on GPU utilization: a prometheus-adapter rule and an example HorizontalPodAutoscaler.

The adapter exposes, per pod, the average utilization of the GPUs the pod holds, through the custom metrics
API (`pods/<autoscaling.metric_name>`): the allocation join series (GPU -> pod, value 1) times the rate of
each GPU's busy-time counter, averaged over the pod's GPUs. Allocations are the join's "many" side, so a GPU
shared by several pods (time-slicing) never breaks the query, but then gives each of them the whole GPU's
utilization; MIG slices have no utilization and are left out.
"""

from __future__ import annotations

from typing import Any

from bundle.promql import Metrics
from bundle.schema import BundleConfig
from bundle.sections import Autoscaling

ALLOCATION = "nvidia_gpu_allocation_info"
BUSY = "nvidia_gpu_busy_seconds_total"


def metrics_query(cfg: BundleConfig, a: Autoscaling) -> str:
    """The adapter's metricsQuery (<<.Series>>, <<.LabelMatchers>>, <<.GroupBy>> filled per request)."""
    n = cfg.naming
    # `by` puts the cluster label first when one is set: one cluster's GPUs never join another's pods.
    m = Metrics(n.job_label, cfg.exporter.gpu_job, frozenset({n.job_label}), n.cluster_label)
    join = m.by(ALLOCATION, "uuid")
    keep = m.by(ALLOCATION, "uuid", "namespace", "pod")
    busy = m(BUSY)
    job = f'{cfg.naming.job_label}="{cfg.exporter.gpu_job}"'
    return (
        "avg by (<<.GroupBy>>) (\n"
        f'  max by ({keep}) (<<.Series>>{{<<.LabelMatchers>>, {job}, mig_uuid=""}})\n'
        f"  * on ({join}) group_left ()\n"
        f"  max by ({join}) (rate({busy}[{a.rate_window}]))\n"
        ")"
    )


def adapter_rules(cfg: BundleConfig, a: Autoscaling) -> dict[str, Any]:
    """prometheus-adapter's config (its `rules:`; the Helm chart's `rules.custom`)."""
    job = f'{cfg.naming.job_label}="{cfg.exporter.gpu_job}"'
    return {
        "rules": [
            {
                "seriesQuery": f'{ALLOCATION}{{{job}, namespace!="", pod!=""}}',
                "resources": {
                    "overrides": {
                        "namespace": {"resource": "namespace"},
                        "pod": {"resource": "pod"},
                    }
                },
                "name": {"matches": f"^{ALLOCATION}$", "as": a.metric_name},
                "metricsQuery": metrics_query(cfg, a),
            }
        ]
    }


def example_hpa(a: Autoscaling) -> dict[str, Any]:
    """A HorizontalPodAutoscaler scaling a serving Deployment on its pods' average GPU utilization."""
    return {
        "apiVersion": "autoscaling/v2",
        "kind": "HorizontalPodAutoscaler",
        "metadata": {"name": a.example_deployment, "namespace": a.example_namespace},
        "spec": {
            "scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": a.example_deployment},
            "minReplicas": a.example_min_replicas,
            "maxReplicas": a.example_max_replicas,
            "metrics": [
                {
                    "type": "Pods",
                    "pods": {
                        "metric": {"name": a.metric_name},
                        # Quantity: the ratio in thousandths (800m = 0.8).
                        "target": {
                            "type": "AverageValue",
                            "averageValue": f"{round(a.example_target_ratio * 1000)}m",
                        },
                    },
                }
            ],
        },
    }

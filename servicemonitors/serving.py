"""TF Serving on the GPU DaemonSet (bundle config `serving.collect_on_gpu_nodes`): node-local pod discovery.

Each GPU exporter lists the TF Serving pods of its own node (NODE_NAME, from the downward API) through the
Kubernetes API and scrapes them, so serving series come from the node that serves them, with no central
scraper to size. The API calls need the pod-reader ClusterRole (`servicemonitors.attribution.rbac`) and a
service-account token in the GPU pods.
"""

from __future__ import annotations

from bundle.sections import Serving


def uses_api(s: Serving) -> bool:
    """Whether the GPU exporter lists pods for TF Serving discovery."""
    return s.collect_on_gpu_nodes


def args(s: Serving) -> list[str]:
    if not s.collect_on_gpu_nodes:
        return []
    out = ["--collector.tfserving", "--tfserving.kubernetes"]
    if s.discovery_label_selector:
        out.append(f"--tfserving.kubernetes.label-selector={s.discovery_label_selector}")
    if s.discovery_namespace:
        out.append(f"--tfserving.kubernetes.namespace={s.discovery_namespace}")
    return out

"""The GPU exporter: a DaemonSet on every GPU node, its headless Service and ServiceMonitor.

A ServiceMonitor (not a PodMonitor): the headless Service gives each pod a stable DNS name for debugging and
`kubectl port-forward svc/...`, and endpoints discovery still carries the pod's node name for relabeling.

The operator labels every target with the exporter pod's own `namespace`, `pod` and `container`; attribution
series carry those labels for the workload holding a GPU. With the target's labels in place Prometheus would
rename the exporter's to `exported_*`, and fill in the exporter's pod wherever the exporter leaves a label
empty (processes outside any pod), so the GPU job drops the three target labels: `instance` and the node
label still tell exporters apart.
"""

from __future__ import annotations

from typing import Any

from bundle.kube import app_labels, metadata
from bundle.schema import BundleConfig
from servicemonitors import attribution, serving
from servicemonitors.common import container, pod_template, service, service_monitor

COMPONENT = "gpu"
NODE_NAME_ENV = {"name": "NODE_NAME", "valueFrom": {"fieldRef": {"fieldPath": "spec.nodeName"}}}
NVIDIA_ENV = (
    {"name": "NVIDIA_VISIBLE_DEVICES", "value": "all"},
    # utility: NVML and nvidia-smi only, no CUDA libraries mounted.
    {"name": "NVIDIA_DRIVER_CAPABILITIES", "value": "utility"},
)
GPU_TOLERATION = {"key": "nvidia.com/gpu", "operator": "Exists"}
# Target labels prometheus-operator sets from the exporter's own pod; attribution series own these names.
TARGET_LABELS_DROPPED = ("namespace", "pod", "container")


def daemonset(cfg: BundleConfig) -> dict[str, Any]:
    e, a = cfg.exporter, cfg.attribution
    # The real driver, explicitly: `auto` would fall back to simulated GPUs on a node whose driver is missing.
    args = ["--collector.gpu", "--gpu.backend=nvml", *attribution.args(a), *serving.args(cfg.serving)]
    main = container(cfg, args, e.gpu_resources, [NODE_NAME_ENV, *NVIDIA_ENV])
    main["volumeMounts"] += attribution.volume_mounts(a)
    extra: dict[str, Any] = {
        **attribution.pod_fields(a),
        "nodeSelector": dict(e.gpu_node_selector),
        # Any effect: GPU nodes are tainted NoSchedule or NoExecute depending on the installer.
        "tolerations": [GPU_TOLERATION],
    }
    if e.gpu_runtime_class:
        extra["runtimeClassName"] = e.gpu_runtime_class
    template = pod_template(
        COMPONENT,
        main,
        run_as=attribution.run_as(a),
        token=attribution.uses_api(a) or serving.uses_api(cfg.serving),
        volumes=attribution.volumes(a),
        **extra,
    )
    return {
        "apiVersion": "apps/v1",
        "kind": "DaemonSet",
        "metadata": metadata(cfg, e.gpu_job, COMPONENT),
        "spec": {
            "selector": {"matchLabels": app_labels(COMPONENT)},
            "updateStrategy": {"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": "10%"}},
            "template": template,
        },
    }


def objects(cfg: BundleConfig) -> dict[str, dict[str, Any]]:
    node_label = cfg.naming.node_label
    relabel_node = {
        "action": "replace",
        "sourceLabels": ["__meta_kubernetes_pod_node_name"],
        "targetLabel": node_label,
    }
    # The exporter labels its info series with NODE_NAME too; the same value arrives as exported_<label>
    # next to the target label, so drop the copy.
    drop_exported_node = {"action": "labeldrop", "regex": f"exported_{node_label}"}
    drop_exporter_pod = {"action": "labeldrop", "regex": "|".join(TARGET_LABELS_DROPPED)}
    return {
        "gpu-daemonset.yaml": daemonset(cfg),
        "gpu-service.yaml": service(cfg, cfg.exporter.gpu_job, COMPONENT, headless=True),
        "gpu-servicemonitor.yaml": service_monitor(
            cfg, cfg.exporter.gpu_job, COMPONENT, [relabel_node, drop_exporter_pod], [drop_exported_node]
        ),
        **attribution.rbac(cfg),
    }

"""Kubernetes attribution: which pod, container and model holds each GPU, and per-pod use of shared GPUs.

Join series of value 1 instead of pod labels on every GPU series: `uuid` joins them to the GPU collector's
series, e.g. `nvidia_gpu_utilization_ratio * on(uuid) group_left(namespace, pod) nvidia_gpu_allocation_info`.
A MIG slice carries its parent GPU's `uuid` and `gpu` plus its own `mig_uuid` (empty for a whole GPU).
Per-pod series come from NVML's per-process data (host PIDs mapped to pods through `/proc/<pid>/cgroup`) and
need `--attribution.processes` (and hostPID); processes outside any pod are summed under `pod_uid=""`.
Sample (labels abridged):

    nvidia_gpu_allocation_info{uuid="GPU-5e7c...",gpu="0",mig_uuid="",namespace="ml",pod="bert-0",
                               container="server",resource="nvidia.com/gpu"} 1
    nvidia_gpu_pod_memory_used_bytes{uuid="GPU-5e7c...",pod="bert-0",pod_uid="6f1d..."} 8.2e+09
    nvidia_gpu_model_info{uuid="GPU-5e7c...",gpu="0",mig_uuid="",namespace="ml",pod="bert-0",model="bert"} 1
    mlobs_attribution_up{source="podresources"} 1
"""

from exporter.catalogue.spec import MetricSpec

_DEVICE = ("uuid", "gpu", "mig_uuid")
_POD = (*_DEVICE, "namespace", "pod", "pod_uid")

ALLOCATION_INFO = MetricSpec(
    "nvidia_gpu_allocation_info",
    "gauge",
    "GPU or MIG slice the kubelet allocated to a container (pod-resources API); 1 per allocation.",
    (*_DEVICE, "namespace", "pod", "container", "resource"),
    collector="attribution",
)
MODEL_INFO = MetricSpec(
    "nvidia_gpu_model_info",
    "gauge",
    "Model served by a TF Serving pod that holds this GPU or MIG slice; 1 per GPU, pod and model.",
    (*_DEVICE, "namespace", "pod", "model"),
    collector="attribution",
)
POD_MEMORY_USED = MetricSpec(
    "nvidia_gpu_pod_memory_used_bytes",
    "gauge",
    "GPU memory used by the pod's processes on this GPU or MIG slice (absent where NVML cannot tell).",
    _POD,
    unit="bytes",
    collector="attribution",
)
POD_SM_UTILIZATION = MetricSpec(
    "nvidia_gpu_pod_sm_utilization_ratio",
    "gauge",
    "Share of the GPU's SMs busy with the pod's processes in NVML's last sample period; absent on MIG and "
    "when NVML had no new sample.",
    _POD,
    unit="ratio",
    collector="attribution",
)
POD_PROCESSES = MetricSpec(
    "nvidia_gpu_pod_processes",
    "gauge",
    "Compute processes of the pod running on this GPU or MIG slice.",
    _POD,
    collector="attribution",
)
UP = MetricSpec(
    "mlobs_attribution_up",
    "gauge",
    "Whether the attribution source answered this scrape (1) or not (0): podresources (kubelet socket), "
    "proc (/proc cgroups) and kubernetes (pod names by UID), the last two with per-process attribution.",
    ("source",),
    collector="attribution",
)
UNRESOLVED_DEVICES = MetricSpec(
    "mlobs_attribution_unresolved_devices",
    "gauge",
    "Allocated device ids (pod-resources) that match no GPU or MIG slice NVML reports on this node.",
    collector="attribution",
)

METRICS = (
    ALLOCATION_INFO,
    MODEL_INFO,
    POD_MEMORY_USED,
    POD_SM_UTILIZATION,
    POD_PROCESSES,
    UP,
    UNRESOLVED_DEVICES,
)

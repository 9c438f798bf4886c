"""Pod attribution on the GPU DaemonSet (bundle config `attribution:`): flags, the kubelet socket, its user.

Enabled, the GPU exporter gets `--collector.attribution` and its flags, the node's pod-resources directory
mounted read-only, and uid 0. The kubelet creates its socket as root with mode 0755 (in a 0750 directory) and
connecting to a unix socket needs write permission on it, which only its owner has. A group cannot help
without a chmod on the node that every kubelet restart undoes, and an added capability (DAC_OVERRIDE) takes
effect only for uid 0 anyway: Kubernetes grants no ambient capabilities. So uid 0 with every capability
dropped, no privilege escalation and a read-only root filesystem: root for file ownership checks only.

`per_process` adds hostPID (NVML reports host PIDs, visible in /proc only in the host's PID namespace) and,
with `kubernetes_api`, a ClusterRole that lists pods plus a service-account token in the GPU pods.
"""

from __future__ import annotations

from typing import Any

from bundle.kube import cluster_metadata
from bundle.schema import Attribution, BundleConfig
from servicemonitors import serving
from servicemonitors.common import SERVICE_ACCOUNT, UNPRIVILEGED_UID

# Where the exporter looks by default; the node's directory (wherever its kubelet keeps it) is mounted here.
CONTAINER_DIR = "/var/lib/kubelet/pod-resources"
SOCKET = f"{CONTAINER_DIR}/kubelet.sock"
VOLUME = "pod-resources"
POD_READER = "mlobs-exporter-pod-reader"


def uses_api(a: Attribution) -> bool:
    """Whether the GPU exporter calls the Kubernetes API (pod names by UID for per-process series)."""
    return a.enabled and a.per_process and a.kubernetes_api


def args(a: Attribution) -> list[str]:
    if not a.enabled:
        return []
    out = [
        "--collector.attribution",
        f"--attribution.pod-resources-socket={SOCKET}",
        *(f"--attribution.resource={resource}" for resource in a.resources),
    ]
    if a.per_process:
        # Explicit either way: the exporter's default depends on NODE_NAME, which the DaemonSet always sets.
        api = "--attribution.kubernetes-api" if a.kubernetes_api else "--no-attribution.kubernetes-api"
        out += ["--attribution.processes", api]
    return out


def volume_mounts(a: Attribution) -> list[dict[str, Any]]:
    return [{"name": VOLUME, "mountPath": CONTAINER_DIR, "readOnly": True}] if a.enabled else []


def volumes(a: Attribution) -> list[dict[str, Any]]:
    # DirectoryOrCreate, not Directory: a node without the directory still runs the exporter (its GPU series
    # stay; attribution reports itself down and names the fix) instead of a pod stuck in ContainerCreating.
    host_path = {"path": a.pod_resources_dir, "type": "DirectoryOrCreate"}
    return [{"name": VOLUME, "hostPath": host_path}] if a.enabled else []


def run_as(a: Attribution) -> int:
    return 0 if a.enabled else UNPRIVILEGED_UID


def pod_fields(a: Attribution) -> dict[str, Any]:
    """Pod spec fields beyond the defaults: hostPID for per-process attribution only."""
    return {"hostPID": True} if a.enabled and a.per_process else {}


def rbac(cfg: BundleConfig) -> dict[str, dict[str, Any]]:
    """A ClusterRole listing pods (the exporter asks only for its node's) and its binding, when needed: for
    per-process attribution's pod names, and for TF Serving discovery on the GPU nodes."""
    if not uses_api(cfg.attribution) and not serving.uses_api(cfg.serving):
        return {}
    role_meta = cluster_metadata(cfg, POD_READER, "gpu")
    role = {
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": "ClusterRole",
        "metadata": role_meta,
        "rules": [{"apiGroups": [""], "resources": ["pods"], "verbs": ["list"]}],
    }
    binding = {
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": "ClusterRoleBinding",
        "metadata": cluster_metadata(cfg, POD_READER, "gpu"),
        "roleRef": {
            "apiGroup": "rbac.authorization.k8s.io",
            "kind": "ClusterRole",
            "name": role_meta["name"],
        },
        "subjects": [{"kind": "ServiceAccount", "name": SERVICE_ACCOUNT, "namespace": cfg.naming.namespace}],
    }
    return {"gpu-clusterrole.yaml": role, "gpu-clusterrolebinding.yaml": binding}

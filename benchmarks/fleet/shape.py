"""The shape of a synthetic fleet, its names, its faults and the cardinality budget the exporter must keep.

Every cluster has the same node names and pod addresses (each cluster has its own pod network): in a global
view only the cluster label tells them apart, which is what a rule that drops it gets wrong.
"""

from __future__ import annotations

from dataclasses import dataclass

# Series one exporter may serve, per unit (docs/scale.md, "Cardinality budget"); tests check a live exporter.
BUDGET_PER_GPU = 40  # GPU collector (37 on an H100 without MIG) + attribution of the GPU's holder
# The node's own series: NVML, build info, collectors' success and duration, discovery, the HTTP front's 10.
BUDGET_PER_NODE = 30
BUDGET_PER_SERVED_VERSION = 80  # per TF Serving pod and model version: requests, two histograms, states
BUDGET_PER_SERVING_POD = 20  # per TF Serving pod: graph runs, target health and error counters


@dataclass(frozen=True)
class Fleet:
    """C clusters of `nodes` GPU nodes each, `models` served models, `history` seconds ending at `end`."""

    clusters: int
    nodes: int
    models: int
    history: int
    step: int
    end: int
    gpus_per_node: int = 8
    pods_per_model: int = 2
    registry_versions: int = 3
    drift_features: int = 4

    @property
    def times(self) -> range:
        start = self.end - self.history
        return range(start - start % self.step, self.end + 1, self.step)


@dataclass(frozen=True)
class Faults:
    """Where the faults are, and since when (unix seconds); the same in every cluster but the fake node."""

    since: int
    lost_gpu: tuple[int, int] = (0, 3)  # (node, gpu): falls off the bus with XID 79
    hot_gpu: tuple[int, int] = (1, 5)  # (node, gpu): 93 °C
    idle_every: int = 10  # every 10th node holds its GPUs' memory but computes little
    slow_model: int = 1  # P95 latency 10x
    failing_model: int = 2  # 20% INTERNAL errors
    drifting_model: int = 3  # PSI past critical on its production version

    @staticmethod
    def fake_node(cluster: int) -> int:
        """Node of `cluster` whose exporter runs the fake backend (a forgotten test install)."""
        return 2 + cluster


def cluster_name(cluster: int) -> str:
    return f"gpu-cluster-{cluster}"


def node_name(node: int) -> str:
    return f"gpu-node-{node:04d}"


def node_instance(node: int) -> str:
    return f"10.0.{node // 250}.{node % 250 + 1}:9847"


def model_name(model: int) -> str:
    return f"model-{model:03d}"


def served_version(model: int) -> int:
    return 2 + model % 2


def serving_pod(fleet: Fleet, model: int, replica: int) -> tuple[str, int, int]:
    """(pod name, node, gpu) of one replica of a model's TF Serving Deployment."""
    slot = model * fleet.pods_per_model + replica
    node = slot % fleet.nodes
    gpu = (slot // fleet.nodes) % fleet.gpus_per_node
    return f"{model_name(model)}-{replica}", node, gpu


def pod_address(model: int, replica: int) -> str:
    return f"http://10.1.{model // 200}.{(model % 200) + replica * 50 % 250 + 1}:8501"

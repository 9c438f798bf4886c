"""The simulated GPU node: its fake NVML scenario (with XIDs when a fault asks), the kubelet's allocations,
and the serving pods the Kubernetes API lists on it."""

from __future__ import annotations

import copy
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from exporter.attribution.fake_kubelet import FakeContainer, FakePod
from exporter.gpu.fake_nvml import load
from exporter.gpu.fake_nvml.scenario_file import SCENARIO_DIR
from exporter.kube import fake_api as kubernetes

NODE = "gpu-node-1"
BASE_SCENARIO = "h100-8x"
# A mixed node beside it, so every kind of GPU panel has something to show: V100s (page retirement instead of
# row remapping), an A100 split with MIG, and an actively cooled workstation card (a fan, fields unsupported).
MIXED_NODE = "gpu-node-2"
MIXED_SCENARIO: dict[str, Any] = {
    "description": "2x V100, an A100 with MIG and a GeForce GTX 1080 (demo stack's mixed node)",
    "driver_version": "535.183.01",
    "cuda_driver_version": 12020,
    "gpus": [
        {"count": 2, "model": "V100-SXM2-32GB", "memory_used_gib": 24,
         "utilization": {"wave": {"low": 0.72, "high": 0.95, "period": 60}},
         "processes": [{"pid": 61000, "used_memory_gib": 24, "sm_util": 0.8}]},
        {"model": "A100-SXM4-80GB", "utilization": 0.6,
         "mig": [{"profile": "3g.40gb", "memory_used_gib": 20},
                 {"profile": "2g.20gb", "memory_used_gib": 9}]},
        {"model": "GTX-1080", "utilization": 0.5, "memory_used_gib": 3,
         "processes": [{"pid": 63000, "used_memory_gib": 3, "sm_util": 0.5}]},
    ],
}  # fmt: skip
MODELS_ANNOTATION = "mlobs.io/tfserving-models"
SERVING_NAMESPACE = "serving"


@dataclass(frozen=True)
class Xid:
    """XID `xid` on GPU `gpu`, `repeat` times `every` seconds from `at` seconds after the exporter starts;
    `lost` makes the GPU fall off the bus a second after the last one (as XID 79 does)."""

    gpu: int
    xid: int
    at: float = 2.0
    repeat: int = 2
    every: float = 3.0
    lost: bool = False


@dataclass(frozen=True)
class Throttle:
    """GPU `gpu` held down by `reason` (an exporter clock-event reason, e.g. hw_thermal) for good."""

    gpu: int
    reason: str = "hw_thermal"


GpuFault = Xid | Throttle


def scenario(faults: Sequence[GpuFault] = ()) -> dict[str, Any]:
    """The h100-8x node, one entry per GPU with its uuid fixed, so a restart with faults keeps identities."""
    base = yaml.safe_load((SCENARIO_DIR / f"{BASE_SCENARIO}.yaml").read_text(encoding="utf-8"))
    (group,) = base["gpus"]
    group.pop("count")
    gpus = []
    for index, device in enumerate(load(BASE_SCENARIO).gpus):
        entry = copy.deepcopy(group)
        entry["uuid"] = device.uuid
        entry["processes"] = [{**p, "pid": p["pid"] + index} for p in group.get("processes", [])]
        events = [x for x in faults if isinstance(x, Xid) and x.gpu == index]
        reasons = [t.reason for t in faults if isinstance(t, Throttle) and t.gpu == index]
        if reasons:
            entry["clock_events"] = sorted({*entry.get("clock_events", []), *reasons})
        times = [(x.at + n * x.every, x.xid) for x in events for n in range(x.repeat)]
        if times:
            entry["xid"] = [{"at": at, "xid": xid} for at, xid in sorted(times)]
        if any(x.lost for x in events):
            entry["lost_at"] = max(at for at, _ in times) + 1
        gpus.append(entry)
    return {**base, "description": f"{base['description']} (demo stack)", "gpus": gpus}


def write_scenario(path: Path, faults: Sequence[GpuFault] = ()) -> Path:
    path.write_text(yaml.safe_dump(scenario(faults), sort_keys=False), encoding="utf-8")
    return path


@dataclass(frozen=True)
class ServingPod:
    """A TF Serving pod on the node: its models and the GPUs the kubelet gave it."""

    name: str
    models: tuple[str, ...]
    gpus: tuple[int, ...]


def kubelet_pods(
    scenario: str | Path, serving: Sequence[ServingPod], training: Mapping[str, Sequence[int]]
) -> list[FakePod]:
    """Allocations as the kubelet reports them: serving pods and training pods (namespace/pod -> GPUs)."""
    uuids = [device.uuid for device in load(str(scenario)).gpus]

    def devices(gpus: Sequence[int]) -> list[tuple[str, Sequence[str]]]:
        return [("nvidia.com/gpu", [uuids[i] for i in gpus])]

    pods = [
        FakePod(SERVING_NAMESPACE, p.name, [FakeContainer("tfserving", devices(p.gpus))]) for p in serving
    ]
    for where, gpus in training.items():
        namespace, name = where.split("/")
        pods.append(FakePod(namespace, name, [FakeContainer("trainer", devices(gpus))]))
    return pods


def api_pod(pod: ServingPod, port: int) -> dict[str, Any]:
    """The serving pod as the API server lists it: on the node, its REST port named `http`, on loopback."""
    return kubernetes.pod(
        pod.name,
        NODE,
        "127.0.0.1",
        namespace=SERVING_NAMESPACE,
        labels={"app": "tf-serving"},
        annotations={MODELS_ANNOTATION: ",".join(pod.models)},
        ports={"http": port},
    )


def kubeconfig(path: Path, api_url: str) -> Path:
    """A kubeconfig for the fake API server (plain HTTP, no credentials)."""
    config = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": "demo", "cluster": {"server": api_url}}],
        "users": [{"name": "demo", "user": {}}],
        "contexts": [{"name": "demo", "context": {"cluster": "demo", "user": "demo"}}],
        "current-context": "demo",
    }
    path.write_text(yaml.safe_dump(config), encoding="utf-8")
    return path

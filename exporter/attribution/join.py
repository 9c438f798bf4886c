"""The attribution joins over plain data: device ids -> GPUs, processes -> pods, serving pods -> models.

Device ids take whatever form the device plugin chose:

    GPU-<uuid>                 a whole GPU (NVIDIA device plugin, default id strategy)
    MIG-<uuid>                 a MIG slice (driver R470 and later)
    MIG-GPU-<uuid>/<gi>/<ci>   a MIG slice (older drivers)
    nvidia<N>, <N>             a whole GPU by index (GKE's plugin; the NVIDIA plugin's `index` id strategy)
    <N>:<M>                    MIG slice M of GPU N (`index` id strategy)
    <any of those>::<replica>  one replica of a time-sliced or MPS-shared GPU
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from exporter.attribution.pod_names import PodName
from exporter.attribution.podresources import DeviceAllocation

_LEGACY_MIG = re.compile(r"^MIG-(GPU-[0-9a-fA-F-]+)/(\d+)/(\d+)$")
_BY_INDEX = re.compile(r"^(?:nvidia)?(\d+)$")
_MIG_BY_INDEX = re.compile(r"^(\d+):(\d+)$")


@dataclass(frozen=True)
class MigView:
    """A MIG slice; `index` is its NVML MIG device index, the `M` of the device plugin's `<N>:<M>` ids."""

    uuid: str
    index: int
    gpu_instance_id: int | None = None
    compute_instance_id: int | None = None


@dataclass(frozen=True)
class GpuView:
    """One GPU as the GPU collector saw it."""

    index: int
    uuid: str
    migs: tuple[MigView, ...] = ()


@dataclass(frozen=True)
class DeviceRef:
    uuid: str
    gpu: str
    mig_uuid: str = ""

    def labels(self) -> dict[str, str]:
        return {"uuid": self.uuid, "gpu": self.gpu, "mig_uuid": self.mig_uuid}


@dataclass(frozen=True)
class ProcessView:
    """One compute process; None where NVML gave no value (memory under MIG, SM utilization on MIG)."""

    pid: int
    used_memory_bytes: int | None = None
    sm_ratio: float | None = None


@dataclass(frozen=True)
class DeviceProcesses:
    """The processes NVML listed on one GPU or MIG slice."""

    device: DeviceRef
    processes: tuple[ProcessView, ...]


@dataclass(frozen=True)
class ServingPodView:
    namespace: str
    pod: str
    pod_uid: str
    models: tuple[str, ...]


class DeviceIndex:
    """Resolves device-plugin ids against the GPUs NVML reports."""

    def __init__(self, gpus: Sequence[GpuView]) -> None:
        self._ids: dict[str, DeviceRef] = {}
        self._legacy: dict[tuple[str, int, int], DeviceRef] = {}
        for gpu in gpus:
            whole = DeviceRef(gpu.uuid, str(gpu.index))
            self._ids[gpu.uuid] = self._ids[str(gpu.index)] = whole
            for mig in gpu.migs:
                ref = DeviceRef(gpu.uuid, str(gpu.index), mig.uuid)
                self._ids[mig.uuid] = self._ids[f"{gpu.index}:{mig.index}"] = ref
                if mig.gpu_instance_id is not None and mig.compute_instance_id is not None:
                    self._legacy[(gpu.uuid, mig.gpu_instance_id, mig.compute_instance_id)] = ref

    def resolve(self, device_id: str) -> DeviceRef | None:
        device_id = device_id.split("::", 1)[0]
        legacy = _LEGACY_MIG.match(device_id)
        if legacy:
            return self._legacy.get((legacy[1], int(legacy[2]), int(legacy[3])))
        by_index = _BY_INDEX.match(device_id)
        if by_index:
            return self._ids.get(by_index[1])
        if _MIG_BY_INDEX.match(device_id) or device_id.startswith(("GPU-", "MIG-")):
            return self._ids.get(device_id)
        return None


@dataclass(frozen=True)
class Allocation:
    device: DeviceRef
    namespace: str
    pod: str
    container: str
    resource: str


def join_allocations(
    rows: Iterable[DeviceAllocation], index: DeviceIndex
) -> tuple[list[Allocation], list[DeviceAllocation]]:
    """Resolved allocations, one per device, container and resource (replicas of one GPU collapse), and the
    rows whose device id matched nothing."""
    seen: dict[Allocation, None] = {}
    unresolved: list[DeviceAllocation] = []
    for row in rows:
        ref = index.resolve(row.device_id)
        if ref is None:
            unresolved.append(row)
        else:
            seen.setdefault(Allocation(ref, row.namespace, row.pod, row.container, row.resource))
    return list(seen), unresolved


@dataclass(frozen=True)
class ModelPlacement:
    device: DeviceRef
    namespace: str
    pod: str
    model: str


def join_models(allocated: Iterable[Allocation], serving: Iterable[ServingPodView]) -> list[ModelPlacement]:
    """Which model runs on which GPU: serving pods' models joined to their pods' allocations."""
    models_by_pod: dict[tuple[str, str], tuple[str, ...]] = {}
    for pod in serving:
        models_by_pod[(pod.namespace, pod.pod)] = models_by_pod.get((pod.namespace, pod.pod), ()) + pod.models
    placements: dict[ModelPlacement, None] = {}
    for row in allocated:
        for model in models_by_pod.get((row.namespace, row.pod), ()):
            placements.setdefault(ModelPlacement(row.device, row.namespace, row.pod, model))
    return list(placements)


@dataclass
class PodUsage:
    """One pod's processes on one GPU or MIG slice, summed; None where NVML gave no value for any of them."""

    device: DeviceRef
    pod_uid: str
    processes: int = 0
    memory_bytes: int | None = None
    sm_ratio_sum: float | None = None

    def add(self, process: ProcessView) -> None:
        self.processes += 1
        if process.used_memory_bytes is not None:
            self.memory_bytes = (self.memory_bytes or 0) + process.used_memory_bytes
        if process.sm_ratio is not None:
            self.sm_ratio_sum = (self.sm_ratio_sum or 0.0) + process.sm_ratio

    @property
    def sm_ratio(self) -> float | None:
        # Per-process samples can overlap in time; a pod cannot use more than the whole GPU.
        return None if self.sm_ratio_sum is None else min(self.sm_ratio_sum, 1.0)


def pod_usage(groups: Iterable[DeviceProcesses], pod_uid_by_pid: Mapping[int, str | None]) -> list[PodUsage]:
    """Per-pod sums on each device. PIDs missing from the map (exited) are skipped; PIDs outside any pod
    (None) are summed under pod_uid ""."""
    usage: dict[tuple[DeviceRef, str], PodUsage] = {}
    for group in groups:
        for process in group.processes:
            if process.pid not in pod_uid_by_pid:
                continue
            uid = pod_uid_by_pid[process.pid] or ""
            usage.setdefault((group.device, uid), PodUsage(group.device, uid)).add(process)
    return list(usage.values())


def pod_names(
    serving: Iterable[ServingPodView], looked_up: Mapping[str, PodName] | None = None
) -> dict[str, PodName]:
    """UID -> name: the serving pods first (no API call needed), then a Kubernetes API lookup."""
    names = dict(looked_up or {})
    names.update({pod.pod_uid: PodName(pod.namespace, pod.pod) for pod in serving if pod.pod_uid})
    return names

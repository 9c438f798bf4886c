"""What attribution reads from the collectors built before it, turned into the join's plain views.

The GPU collector's snapshot of this scrape gives the GPUs, MIG slices and processes; the TF Serving
collector's Kubernetes discovery gives the serving pods, their UIDs and models.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from typing import Protocol, runtime_checkable

from exporter.attribution.collector import GpuInput
from exporter.attribution.join import (
    DeviceProcesses,
    DeviceRef,
    GpuView,
    MigView,
    ProcessView,
    ServingPodView,
)
from exporter.gpu.nvml_types import DeviceReading, NvmlSnapshot, ProcessInfo, ProcessUtilization


class ServingPod(Protocol):
    @property
    def namespace(self) -> str: ...

    @property
    def pod(self) -> str: ...

    @property
    def pod_uid(self) -> str: ...

    @property
    def models(self) -> Sequence[str]: ...


@runtime_checkable
class ServingPodSource(Protocol):
    def serving_pods(self) -> Sequence[ServingPod]: ...


def gpu_input(snapshot: NvmlSnapshot | None) -> GpuInput | None:
    """GPUs and MIG slices for resolving device ids, and processes per device when they were read."""
    if snapshot is None or not snapshot.devices:
        return None
    gpus: list[GpuView] = []
    groups: list[DeviceProcesses] = []
    read_processes = False
    for device in snapshot.devices:
        ident = device.identity
        gpus.append(
            GpuView(
                ident.index,
                ident.uuid,
                tuple(
                    MigView(mig.mig_uuid, mig.slot, mig.gpu_instance, mig.compute_instance)
                    for mig in device.mig_instances
                ),
            )
        )
        found, device_groups = _processes(device)
        read_processes = read_processes or found
        groups.extend(device_groups)
    return GpuInput(gpus, groups if read_processes else None)


def _processes(device: DeviceReading) -> tuple[bool, list[DeviceProcesses]]:
    """Whether NVML listed processes on this GPU, and the groups: one per MIG slice, else the whole GPU."""
    ident = device.identity
    if device.mig_instances:
        groups = [
            DeviceProcesses(
                DeviceRef(ident.uuid, str(ident.index), mig.mig_uuid),
                tuple(ProcessView(p.pid, p.used_memory_bytes) for p in mig.processes),
            )
            for mig in device.mig_instances
            if mig.processes is not None
        ]
        return len(groups) > 0, groups
    if device.processes is None:
        return False, []
    sm = _sm_by_pid(device.processes, device.process_utilization)
    views = tuple(ProcessView(p.pid, p.used_memory_bytes, sm.get(p.pid)) for p in device.processes)
    return True, [DeviceProcesses(DeviceRef(ident.uuid, str(ident.index)), views)]


def _sm_by_pid(
    processes: Sequence[ProcessInfo], samples: Sequence[ProcessUtilization] | None
) -> dict[int, float]:
    """Mean SM ratio of each process's samples since the last read. NVML samples only processes that were
    busy, so one without a sample was idle (0); but no sample at all (NOT_FOUND: read again within one
    sample period, or unsupported) leaves every value unknown rather than 0."""
    if not samples:
        return {}
    by_pid: dict[int, list[float]] = defaultdict(list)
    for sample in samples:
        by_pid[sample.pid].append(sample.sm_ratio)
    return {p.pid: sum(by_pid[p.pid]) / len(by_pid[p.pid]) if by_pid[p.pid] else 0.0 for p in processes}


def serving_views(source: ServingPodSource | None) -> list[ServingPodView]:
    if source is None:
        return []
    return [ServingPodView(p.namespace, p.pod, p.pod_uid, tuple(p.models)) for p in source.serving_pods()]

"""Attribution collector: joins the kubelet's device allocations, NVML's processes and the serving pods.

It reads the GPU collector's snapshot of the same scrape (built before it) rather than calling NVML again.
Each source it asks (pod-resources, /proc, the Kubernetes API) reports `mlobs_attribution_up{source}`; a
source going down logs one line, and its recovery another, instead of a line per scrape.
"""

from __future__ import annotations

import logging
import threading
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Protocol

from exporter.attribution import catalogue as m
from exporter.attribution.join import (
    DeviceIndex,
    DeviceProcesses,
    GpuView,
    PodUsage,
    ServingPodView,
    join_allocations,
    join_models,
    pod_names,
    pod_usage,
)
from exporter.attribution.pod_names import PodName
from exporter.attribution.podresources import DeviceAllocation, PodResourcesError
from exporter.attribution.proc_cgroups import ProcUnavailable
from exporter.catalogue.families import FamilySet
from exporter.collector import Health

# Remember at most this many unresolved device ids, so a misbehaving plugin cannot grow memory.
_MAX_REMEMBERED_IDS = 1024


class AllocationSource(Protocol):
    def start(self) -> Callable[[], list[DeviceAllocation]]: ...

    def close(self) -> None: ...


class PidPods(Protocol):
    root: str

    def pod_uids(self, pids: Sequence[int]) -> dict[int, str | None]: ...


class UidNames(Protocol):
    error: str

    def names(self, uids: Sequence[str]) -> dict[str, PodName]: ...

    def close(self) -> None: ...


@dataclass(frozen=True)
class GpuInput:
    """What the GPU collector saw this scrape; `processes` is None when they were not read."""

    gpus: Sequence[GpuView]
    processes: Sequence[DeviceProcesses] | None


class SourceState:
    """Up or down, with one log line per change (and per new reason) rather than one per scrape."""

    def __init__(self, source: str, log: logging.Logger) -> None:
        self.source = source
        self.reason = ""
        self._log = log

    def report(self, reason: str) -> None:
        if reason and reason != self.reason:
            self._log.warning("attribution source %s unavailable: %s", self.source, reason)
        elif not reason and self.reason:
            self._log.info("attribution source %s recovered", self.source)
        self.reason = reason

    @property
    def up(self) -> bool:
        return not self.reason


class AttributionCollector:
    name = "attribution"

    def __init__(
        self,
        allocations: AllocationSource,
        gpu_input: Callable[[], GpuInput | None],
        serving_pods: Callable[[], Sequence[ServingPodView]],
        proc: PidPods | None = None,
        names: UidNames | None = None,
        log: logging.Logger | None = None,
    ) -> None:
        self._allocations = allocations
        self._gpu_input = gpu_input
        self._serving_pods = serving_pods
        self._proc = proc
        self._names = names
        self._log = log or logging.getLogger("exporter.attribution")
        self._states = {"podresources": SourceState("podresources", self._log)}
        if proc is not None:
            self._states["proc"] = SourceState("proc", self._log)
            if names is not None:
                self._states["kubernetes"] = SourceState("kubernetes", self._log)
        self._unresolved_seen: set[str] = set()
        self._lock = threading.Lock()  # overlapping scrapes share one gRPC channel and one name cache
        self._pending = threading.local()  # the List call prepare() sent, per scrape thread

    def prepare(self) -> None:
        """Send the kubelet request before the other collectors run, so its round trip overlaps them."""
        with self._lock:
            self._pending.call = self._allocations.start()

    def collect(self, out: FamilySet) -> bool:
        with self._lock:
            return self._collect(out)

    def _collect(self, out: FamilySet) -> bool:
        gpu = self._gpu_input()
        serving = list(self._serving_pods())
        index = DeviceIndex(gpu.gpus if gpu else ())
        pending, self._pending.call = getattr(self._pending, "call", None), None
        try:
            rows = (pending or self._allocations.start())()
            self._states["podresources"].report("")
        except PodResourcesError as exc:
            rows = []
            self._states["podresources"].report(str(exc))
        except Exception as exc:  # anything grpc did not wrap: still never fail the scrape
            rows = []
            self._states["podresources"].report(f"{type(exc).__name__}: {exc}")
        allocated, unresolved = join_allocations(rows, index)
        if gpu is not None:  # without NVML's answer every id is unresolved: no news worth a log line
            self._note_unresolved(unresolved)
        for row in allocated:
            out.add(
                m.ALLOCATION_INFO,
                1,
                **row.device.labels(),
                namespace=row.namespace,
                pod=row.pod,
                container=row.container,
                resource=row.resource,
            )
        for placement in join_models(allocated, serving):
            out.add(
                m.MODEL_INFO,
                1,
                **placement.device.labels(),
                namespace=placement.namespace,
                pod=placement.pod,
                model=placement.model,
            )
        out.add(m.UNRESOLVED_DEVICES, len(unresolved))
        if self._proc is not None and gpu is not None and gpu.processes is not None:
            self._add_pod_usage(out, self._proc, gpu.processes, serving)
        for source, state in self._states.items():
            out.add(m.UP, 1 if state.up else 0, source=source)
        return gpu is not None and all(state.up for state in self._states.values())

    def _add_pod_usage(
        self,
        out: FamilySet,
        proc: PidPods,
        groups: Sequence[DeviceProcesses],
        serving: Sequence[ServingPodView],
    ) -> None:
        pids = sorted({process.pid for group in groups for process in group.processes})
        try:
            pod_by_pid = proc.pod_uids(pids)
            if pids and not pod_by_pid:
                raise ProcUnavailable(
                    f"none of the {len(pids)} GPU processes is visible under {proc.root}: "
                    "per-process attribution needs the host's PIDs (hostPID: true)"
                )
            self._states["proc"].report("")
        except ProcUnavailable as exc:
            self._states["proc"].report(str(exc))
            return
        usage = pod_usage(groups, pod_by_pid)
        names = pod_names(serving)
        unknown = sorted({u.pod_uid for u in usage if u.pod_uid and u.pod_uid not in names})
        if self._names is not None:
            names.update(self._names.names(unknown))  # lists only for unknown UIDs or to retry a failure
            self._states["kubernetes"].report(self._names.error)
        for entry in usage:
            self._add_one_pod(out, entry, names.get(entry.pod_uid, PodName("", "")))

    @staticmethod
    def _add_one_pod(out: FamilySet, entry: PodUsage, name: PodName) -> None:
        labels = {
            **entry.device.labels(),
            "namespace": name.namespace,
            "pod": name.pod,
            "pod_uid": entry.pod_uid,
        }
        out.add(m.POD_PROCESSES, entry.processes, **labels)
        if entry.memory_bytes is not None:
            out.add(m.POD_MEMORY_USED, entry.memory_bytes, **labels)
        if entry.sm_ratio is not None:
            out.add(m.POD_SM_UTILIZATION, entry.sm_ratio, **labels)

    def _note_unresolved(self, rows: Sequence[DeviceAllocation]) -> None:
        by_resource: dict[str, list[str]] = defaultdict(list)
        for row in rows:
            if (
                row.device_id not in self._unresolved_seen
                and len(self._unresolved_seen) < _MAX_REMEMBERED_IDS
            ):
                self._unresolved_seen.add(row.device_id)
                by_resource[row.resource].append(f"{row.namespace}/{row.pod}: {row.device_id}")
        for resource, ids in by_resource.items():
            self._log.warning(
                "attribution: %d %s device id(s) match no GPU that NVML reports: %s",
                len(ids),
                resource,
                ", ".join(ids),
            )

    def health(self) -> Health:
        # An unavailable source is an upstream problem shown by mlobs_attribution_up, not an unhealthy
        # exporter: failing /health over it would take the GPU metrics down with it.
        down = [f"{s.source}: {s.reason}" for s in self._states.values() if not s.up]
        return Health(True, "; ".join(down) or "all sources up")

    def close(self) -> None:
        self._allocations.close()
        if self._names is not None:
            self._names.close()

"""Read who is on one GPU through NVML: its MIG devices, their compute processes and per-process
utilization samples; runs on the NVML worker only."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from exporter.gpu.nvml_errors import NO_DATA, NOT_FOUND, FieldReader
from exporter.gpu.nvml_types import MemoryReading, MigInstance, ProcessInfo, ProcessUtilization


def ratio(percent: float) -> float:
    return min(max(float(percent), 0.0), 100.0) / 100.0


def text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


class ProcessReader:
    """MIG devices and processes of a GPU, keeping per-process samples across scrapes, per UUID."""

    # Per-process samples drain from the driver as they are read: keep the last batch this long so a
    # second scraper (an HA Prometheus pair) sees the same values instead of a gap.
    PROCESS_SAMPLES_HOLD_SECONDS = 60.0

    def __init__(self, fields: FieldReader, clock: Callable[[], float] = time.monotonic) -> None:
        self._fields = fields
        self._clock = clock
        self._process_ts: dict[str, int] = {}
        # uuid -> (when read, the newest non-empty batch of per-process samples)
        self._process_batch: dict[str, tuple[float, tuple[ProcessUtilization, ...]]] = {}

    def mig_instances(
        self, key: str, handle: Any, processes: bool, memory: Callable[[str, Any], MemoryReading | None]
    ) -> tuple[MigInstance, ...]:
        """The MIG devices in the GPU's slots; `memory` reads a device's memory."""
        read = self._fields.read
        count = read(key, "mig_count", "nvmlDeviceGetMaxMigDeviceCount", handle) or 0
        instances = []
        for slot in range(int(count)):
            slot_key = f"{key}/{slot}"
            mig = read(
                slot_key, "handle", "nvmlDeviceGetMigDeviceHandleByIndex", handle, slot, no_data=(NOT_FOUND,)
            )
            if mig is None or mig is NO_DATA:  # NOT_FOUND: an empty slot
                continue
            mig_uuid = read(slot_key, "uuid", "nvmlDeviceGetUUID", mig)
            if mig_uuid is None:
                continue
            mig_uuid = text(mig_uuid)
            name = text(read(mig_uuid, "name", "nvmlDeviceGetName", mig) or "")
            instances.append(
                MigInstance(
                    mig_uuid=mig_uuid,
                    gpu_instance=read(mig_uuid, "gpu_instance", "nvmlDeviceGetGpuInstanceId", mig),
                    compute_instance=read(
                        mig_uuid, "compute_instance", "nvmlDeviceGetComputeInstanceId", mig
                    ),
                    # MIG device names end in the profile: "NVIDIA A100-SXM4-80GB MIG 3g.40gb".
                    profile=name.rsplit(" MIG ", 1)[1] if " MIG " in name else "",
                    memory=memory(mig_uuid, mig),
                    processes=self.processes(mig_uuid, mig) if processes else None,
                    slot=slot,
                )
            )
        return tuple(instances)

    def processes(self, key: str, handle: Any) -> tuple[ProcessInfo, ...] | None:
        found = self._fields.read(key, "processes", "nvmlDeviceGetComputeRunningProcesses", handle)
        if found is None:
            return None
        return tuple(
            ProcessInfo(
                pid=int(p.pid),
                used_memory_bytes=None if p.usedGpuMemory is None else int(p.usedGpuMemory),
                gpu_instance=_instance_id(getattr(p, "gpuInstanceId", None)),
                compute_instance=_instance_id(getattr(p, "computeInstanceId", None)),
            )
            for p in found
        )

    def utilization(self, key: str, handle: Any) -> tuple[ProcessUtilization, ...] | None:
        last = self._process_ts.get(key, 0)
        # NOT_FOUND, or pynvml's NVMLError(0) for an empty buffer: no sample since `last`.
        samples = self._fields.read(
            key,
            "process_utilization",
            "nvmlDeviceGetProcessUtilization",
            handle,
            last,
            no_data=(NOT_FOUND, 0),
        )
        if samples is None:
            return None
        result: tuple[ProcessUtilization, ...] = ()
        if samples is not NO_DATA:
            result = tuple(
                ProcessUtilization(int(s.pid), ratio(s.smUtil), ratio(s.memUtil), int(s.timeStamp))
                for s in samples
                if int(s.timeStamp) > last
            )
        now = self._clock()
        if result:
            self._process_ts[key] = max(s.timestamp_us for s in result)
            self._process_batch[key] = (now, result)
            return result
        read_at, held = self._process_batch.get(key, (0.0, ()))
        return held if held and now - read_at <= self.PROCESS_SAMPLES_HOLD_SECONDS else ()


def _instance_id(value: Any) -> int | None:
    # NVML fills 0xFFFFFFFF when a process is not in a MIG instance.
    return None if value is None or int(value) >= 0xFFFFFFFF else int(value)

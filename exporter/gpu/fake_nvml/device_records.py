"""The fake's per-device records: field values (PCIe byte counters, replays, memory temperature), memory
errors and processes.

The PCIe byte counters integrate the utilization pattern over the driver's samples, so they only grow;
memory errors and processes are as the scenario states them.
"""

from __future__ import annotations

import ctypes
from typing import Any

import pynvml

from exporter.gpu.fake_nvml.devices import PCIE_SHARE, DeviceQueries, sample_index
from exporter.gpu.fake_nvml.models import FIELD_IDS
from exporter.gpu.fake_nvml.scenario import FakeGpu, FakeMig, FakeProcess

_NO_INSTANCE = 0xFFFFFFFF
HBM_ABOVE_CORE_CELSIUS = 4.0
_PCIE_BYTE_FIELDS = {
    pynvml.NVML_FI_DEV_PCIE_COUNT_TX_BYTES: pynvml.NVML_PCIE_UTIL_TX_BYTES,
    pynvml.NVML_FI_DEV_PCIE_COUNT_RX_BYTES: pynvml.NVML_PCIE_UTIL_RX_BYTES,
}


class _PlainFieldValue(ctypes.Structure):
    """c_nvmlFieldValue_t's layout without pynvml's Python-level attribute hooks, to fill quickly."""

    _fields_ = pynvml.c_nvmlFieldValue_t._fields_


class RecordQueries(DeviceQueries):
    """The record-level pynvml calls, on top of the sampled ones; `FakeNvml` inherits both."""

    def _pcie_bytes(self, gpu: FakeGpu, t: float, counter: int) -> int:
        """Bytes since the fake started: each driver sample adds its period's traffic, whole bytes."""
        per_second = gpu.model.pcie_max_kbps * 1024 * PCIE_SHARE[counter]
        interval = self.scenario.sample_interval
        return int(
            self._integral(
                f"pcie/{counter}", gpu, t, lambda s: round(per_second * self._util(gpu, s) * interval)
            )
        )

    # Field values.

    def nvmlDeviceGetFieldValues(self, handle: Any, fieldIds: list[Any]) -> Any:
        """pynvml's shape: a ctypes array of c_nvmlFieldValue_t, each entry with its own nvmlReturn."""
        gpu, t = self._gpu("nvmlDeviceGetFieldValues", handle)
        plain = (_PlainFieldValue * len(fieldIds))()
        stamp = self._sample_ts(sample_index(t, self.scenario.sample_interval))
        for entry, requested in zip(plain, fieldIds, strict=True):
            if isinstance(requested, int):  # like pynvml: a bare id, or (id, scope id)
                field_id = requested
            else:
                field_id, entry.scopeId = requested
            code = self._field_return(gpu, field_id)
            entry.fieldId, entry.timestamp, entry.nvmlReturn = field_id, stamp, code
            if code != pynvml.NVML_SUCCESS:
                continue
            counter = _PCIE_BYTE_FIELDS.get(field_id)
            if counter is not None:
                entry.valueType = pynvml.NVML_VALUE_TYPE_UNSIGNED_LONG_LONG
                entry.value.ullVal = self._pcie_bytes(gpu, t, counter)
            elif field_id == pynvml.NVML_FI_DEV_MEMORY_TEMP:
                entry.valueType = pynvml.NVML_VALUE_TYPE_UNSIGNED_INT
                entry.value.uiVal = self._memory_temperature(gpu, t)
            else:  # the replay counter
                entry.valueType = pynvml.NVML_VALUE_TYPE_UNSIGNED_INT
                entry.value.uiVal = gpu.pcie_replays
        return (pynvml.c_nvmlFieldValue_t * len(fieldIds)).from_buffer(plain)  # pynvml's own type

    @staticmethod
    def _field_return(gpu: FakeGpu, field_id: int) -> int:
        field = FIELD_IDS.get(field_id)
        if field is None or field in gpu.unsupported:
            return pynvml.NVML_ERROR_NOT_SUPPORTED
        if field in gpu.no_permission:
            return pynvml.NVML_ERROR_NO_PERMISSION
        return pynvml.NVML_SUCCESS

    def _memory_temperature(self, gpu: FakeGpu, t: float) -> int:
        """HBM follows the core's temperature a few degrees above it under load."""
        model = gpu.model
        span = model.temperature_max_celsius - model.temperature_idle_celsius
        load = self._util(gpu, t)
        return round(model.temperature_idle_celsius + span * load + HBM_ABOVE_CORE_CELSIUS * load)

    # Memory errors.

    def nvmlDeviceGetTotalEccErrors(self, handle: Any, errorType: int, counterType: int) -> int:
        gpu, _ = self._gpu("nvmlDeviceGetTotalEccErrors", handle)
        kind = "corrected" if errorType == pynvml.NVML_MEMORY_ERROR_TYPE_CORRECTED else "uncorrected"
        counter = "volatile" if counterType == pynvml.NVML_VOLATILE_ECC else "aggregate"
        return gpu.ecc[f"{kind}_{counter}"]

    def nvmlDeviceGetRemappedRows(self, device: Any) -> tuple[int, int, int, int]:
        gpu, _ = self._gpu("nvmlDeviceGetRemappedRows", device)
        correctable, uncorrectable, pending, failure = gpu.remapped_rows
        return correctable, uncorrectable, int(pending), int(failure)

    def nvmlDeviceGetRetiredPages(self, device: Any, sourceFilter: int) -> list[int]:
        gpu, _ = self._gpu("nvmlDeviceGetRetiredPages", device)
        single, double, _ = gpu.retired_pages
        count = (
            single
            if sourceFilter == pynvml.NVML_PAGE_RETIREMENT_CAUSE_MULTIPLE_SINGLE_BIT_ECC_ERRORS
            else double
        )
        return [0x7F000 + 0x1000 * i for i in range(count)]

    def nvmlDeviceGetRetiredPagesPendingStatus(self, device: Any) -> int:
        gpu, _ = self._gpu("nvmlDeviceGetRetiredPagesPendingStatus", device)
        return int(gpu.retired_pages[2])

    # Processes.

    def nvmlDeviceGetComputeRunningProcesses(self, handle: Any) -> list[Any]:
        gpu, mig, _ = self._enter("nvmlDeviceGetComputeRunningProcesses", handle)
        assert gpu is not None
        if gpu.mig is None:
            return [_process(p, None, p.used_memory_bytes) for p in gpu.processes]
        # Under MIG, NVML cannot tell a process's memory: usedGpuMemory comes back as None.
        migs = gpu.mig if mig is None else (mig,)
        return [_process(p, m, None) for m in migs for p in m.processes]

    def nvmlDeviceGetProcessUtilization(self, handle: Any, timeStamp: int) -> list[Any]:
        gpu, t = self._unless_mig("nvmlDeviceGetProcessUtilization", handle)
        stamp = self._sample_ts(sample_index(t, self.scenario.sample_interval))
        if not gpu.processes or stamp <= timeStamp:
            raise pynvml.NVMLError(pynvml.NVML_ERROR_NOT_FOUND)
        return [
            pynvml.c_nvmlProcessUtilizationSample_t(
                pid=p.pid, timeStamp=stamp, smUtil=round(p.sm_ratio * 100), memUtil=round(p.sm_ratio * 45)
            )
            for p in gpu.processes
        ]


def _process(process: FakeProcess, mig: FakeMig | None, used: int | None) -> Any:
    return pynvml.nvmlFriendlyObject(
        {
            "pid": process.pid,
            "usedGpuMemory": used,
            "gpuInstanceId": mig.gpu_instance if mig else _NO_INSTANCE,
            "computeInstanceId": mig.compute_instance if mig else _NO_INSTANCE,
        }
    )

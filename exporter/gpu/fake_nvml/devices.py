"""The fake's sampled per-device queries: values derived from the scenario at the current scenario time.

Power, temperature, clocks and PCIe traffic follow the utilization pattern between the model's idle
and maximum; energy is an integral over the driver's samples, so it only grows. Field values, memory
errors and processes are in `device_records`.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import pynvml

from exporter.gpu.fake_nvml.ids import url_uuid5
from exporter.gpu.fake_nvml.scenario import FakeGpu, FakeMig, Scenario
from exporter.gpu.nvml_types import CLOCK_EVENT_REASONS

EPOCH_US = 1_750_000_000_000_000  # driver sample timestamps are microseconds of wall time
SAMPLE_BUFFER = 120  # samples the driver keeps per type; older ones are gone
_REASON_BITS = dict(CLOCK_EVENT_REASONS)
# Shares of the model's PCIe bandwidth each direction carries at full utilization.
PCIE_SHARE = {pynvml.NVML_PCIE_UTIL_TX_BYTES: 0.15, pynvml.NVML_PCIE_UTIL_RX_BYTES: 0.35}


def sample_index(t: float, interval: float) -> int:
    """The last driver sample taken at or before scenario time `t` (samples at 0, interval, 2*interval...)."""
    return max(0, math.floor(t / interval + 1e-9))


class DeviceQueries:
    """Sampled device-level calls; `_enter` (in FakeNvml) checks the handle and what the GPU supports."""

    def __init__(self, scenario: Scenario) -> None:
        self.scenario = scenario
        # (quantity, gpu) -> (last integrated sample, total so far)
        self._integrals: dict[tuple[str, int], tuple[int, float]] = {}

    def _enter(self, function: str, handle: Any = None) -> tuple[FakeGpu | None, FakeMig | None, float]:
        raise NotImplementedError

    def _gpu(self, function: str, handle: Any) -> tuple[FakeGpu, float]:
        raise NotImplementedError

    def _util(self, gpu: FakeGpu, t: float) -> float:
        return gpu.utilization.at(t)

    def _sample_ts(self, k: int) -> int:
        return EPOCH_US + round(k * self.scenario.sample_interval * 1e6)

    def _integral(self, quantity: str, gpu: FakeGpu, t: float, per_sample: Callable[[float], float]) -> float:
        """The sum of `per_sample(sample time)` over the driver samples up to `t`; it only grows."""
        interval, key = self.scenario.sample_interval, (quantity, gpu.index)
        done, total = self._integrals.get(key, (0, 0.0))
        last = sample_index(t, interval)
        for k in range(done + 1, last + 1):
            total += per_sample(k * interval)
        self._integrals[key] = (max(done, last), total)
        return total

    def _power_watts(self, gpu: FakeGpu, t: float) -> float:
        model = gpu.model
        return model.power_idle_watts + (model.power_limit_watts - model.power_idle_watts) * self._util(
            gpu, t
        )

    # Identity.

    def nvmlDeviceGetUUID(self, handle: Any) -> str:
        gpu, mig, _ = self._enter("nvmlDeviceGetUUID", handle)
        assert gpu is not None
        if mig is None:
            return gpu.uuid
        return f"MIG-{url_uuid5(f'{gpu.uuid}/{mig.gpu_instance}/{mig.compute_instance}')}"

    def nvmlDeviceGetName(self, handle: Any) -> str:
        gpu, mig, _ = self._enter("nvmlDeviceGetName", handle)
        assert gpu is not None
        return gpu.model.name if mig is None else f"{gpu.model.name} MIG {mig.profile}"

    def nvmlDeviceGetPciInfo(self, handle: Any) -> Any:
        gpu, _ = self._gpu("nvmlDeviceGetPciInfo", handle)
        info = pynvml.nvmlPciInfo_t()
        info.busId = info.busIdLegacy = gpu.pci_bus_id.encode()
        info.domain, info.bus, info.device = 0, int(gpu.pci_bus_id.split(":")[1], 16), 0
        info.pciDeviceId = 0x233010DE
        return info

    # Utilization.

    def _unless_mig(self, function: str, handle: Any) -> tuple[FakeGpu, float]:
        gpu, t = self._gpu(function, handle)
        if gpu.mig is not None:  # NVML reports no utilization once MIG is on
            raise pynvml.NVMLError(pynvml.NVML_ERROR_NOT_SUPPORTED)
        return gpu, t

    def _memory_util(self, gpu: FakeGpu, t: float) -> float:
        pattern = gpu.memory_utilization
        return pattern.at(t) if pattern is not None else 0.45 * self._util(gpu, t)

    def nvmlDeviceGetUtilizationRates(self, handle: Any) -> Any:
        gpu, t = self._unless_mig("nvmlDeviceGetUtilizationRates", handle)
        return pynvml.c_nvmlUtilization_t(
            round(self._util(gpu, t) * 100), round(self._memory_util(gpu, t) * 100)
        )

    def nvmlDeviceGetSamples(self, device: Any, sampling_type: int, timeStamp: int) -> tuple[int, list[Any]]:
        gpu, t = self._unless_mig("nvmlDeviceGetSamples", device)
        if sampling_type == pynvml.NVML_GPU_UTILIZATION_SAMPLES:
            value = self._util
        elif sampling_type == pynvml.NVML_MEMORY_UTILIZATION_SAMPLES:
            value = self._memory_util
        else:
            raise pynvml.NVMLError(pynvml.NVML_ERROR_NOT_SUPPORTED)
        interval = self.scenario.sample_interval
        last = sample_index(t, interval)
        first = max(0, last - SAMPLE_BUFFER + 1)
        if timeStamp >= EPOCH_US:
            first = max(first, sample_index((timeStamp - EPOCH_US) / 1e6, interval) + 1)
            while first <= last and self._sample_ts(first) <= timeStamp:
                first += 1
        if first > last:
            raise pynvml.NVMLError(pynvml.NVML_ERROR_NOT_FOUND)  # nothing newer than timeStamp
        samples = []
        for k in range(first, last + 1):
            sample = pynvml.c_nvmlSample_t()
            sample.timeStamp = self._sample_ts(k)
            sample.sampleValue.uiVal = round(value(gpu, k * interval) * 100)
            samples.append(sample)
        return pynvml.NVML_VALUE_TYPE_UNSIGNED_INT, samples

    # Memory, thermals, power, clocks.

    def nvmlDeviceGetMemoryInfo(self, handle: Any, version: int | None = None) -> Any:
        gpu, mig, _ = self._enter("nvmlDeviceGetMemoryInfo", handle)
        assert gpu is not None
        if version and "nvmlDeviceGetMemoryInfo_v2" in self.scenario.missing_functions:
            raise pynvml.NVMLError(pynvml.NVML_ERROR_FUNCTION_NOT_FOUND)
        if mig is not None:
            total, used, reserved = mig.memory_total_bytes, mig.memory_used_bytes, 0
        else:
            total, used, reserved = (
                gpu.model.memory_total_bytes,
                gpu.memory_used_bytes,
                gpu.model.memory_reserved_bytes,
            )
        if not version:
            return pynvml.c_nvmlMemory_t(total=total, free=total - used, used=used)
        return pynvml.c_nvmlMemory_v2_t(
            version=version, total=total, reserved=reserved, free=total - reserved - used, used=used
        )

    def nvmlDeviceGetTemperature(self, handle: Any, sensor: int) -> int:
        return self._temperature("nvmlDeviceGetTemperature", handle)

    def nvmlDeviceGetTemperatureV(
        self, handle: Any, sensor: int, version: int = pynvml.nvmlTemperature_v1
    ) -> int:
        return self._temperature("nvmlDeviceGetTemperatureV", handle)

    def _temperature(self, function: str, handle: Any) -> int:
        gpu, t = self._gpu(function, handle)
        model = gpu.model
        span = model.temperature_max_celsius - model.temperature_idle_celsius
        return round(model.temperature_idle_celsius + span * self._util(gpu, t))

    def nvmlDeviceGetPowerUsage(self, handle: Any) -> int:
        gpu, t = self._gpu("nvmlDeviceGetPowerUsage", handle)
        return round(self._power_watts(gpu, t) * 1000)

    def nvmlDeviceGetEnforcedPowerLimit(self, handle: Any) -> int:
        gpu, _ = self._gpu("nvmlDeviceGetEnforcedPowerLimit", handle)
        return round(gpu.model.power_limit_watts * 1000)

    def nvmlDeviceGetTotalEnergyConsumption(self, handle: Any) -> int:
        gpu, t = self._gpu("nvmlDeviceGetTotalEnergyConsumption", handle)
        interval = self.scenario.sample_interval
        return int(self._integral("energy", gpu, t, lambda s: self._power_watts(gpu, s) * interval * 1000))

    def nvmlDeviceGetClockInfo(self, handle: Any, type: int) -> int:
        gpu, t = self._gpu("nvmlDeviceGetClockInfo", handle)
        model = gpu.model
        if type == pynvml.NVML_CLOCK_MEM:
            return model.memory_clock_mhz
        return model.sm_clock_max_mhz if self._util(gpu, t) > 0 else model.sm_clock_idle_mhz

    def nvmlDeviceGetFanSpeed(self, handle: Any) -> int:
        gpu, t = self._gpu("nvmlDeviceGetFanSpeed", handle)
        return round(30 + 50 * self._util(gpu, t))

    def nvmlDeviceGetPerformanceState(self, handle: Any) -> int:
        gpu, t = self._gpu("nvmlDeviceGetPerformanceState", handle)
        return pynvml.NVML_PSTATE_0 if self._util(gpu, t) > 0 else pynvml.NVML_PSTATE_8

    def nvmlDeviceGetPcieThroughput(self, device: Any, counter: int) -> int:
        gpu, t = self._gpu("nvmlDeviceGetPcieThroughput", device)
        return round(gpu.model.pcie_max_kbps * PCIE_SHARE[counter] * self._util(gpu, t))

    def nvmlDeviceGetCurrentClocksEventReasons(self, handle: Any) -> int:
        return self._clock_events("nvmlDeviceGetCurrentClocksEventReasons", handle)

    def nvmlDeviceGetCurrentClocksThrottleReasons(self, handle: Any) -> int:
        return self._clock_events("nvmlDeviceGetCurrentClocksThrottleReasons", handle)

    def _clock_events(self, function: str, handle: Any) -> int:
        gpu, t = self._gpu(function, handle)
        mask = sum(_REASON_BITS[reason] for reason in gpu.clock_events)
        if self._util(gpu, t) == 0:
            mask |= _REASON_BITS["gpu_idle"]
        return mask

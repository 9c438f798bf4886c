"""Read one GPU through NVML into a `DeviceReading` (its MIG devices and processes: `nvml_processes`); runs
on the NVML worker only."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from exporter.gpu.nvml_errors import NO_DATA, NOT_FOUND, FieldReader
from exporter.gpu.nvml_processes import ProcessReader, ratio, text
from exporter.gpu.nvml_types import (
    DeviceIdentity,
    DeviceReading,
    EccCounts,
    MemoryReading,
    RemappedRows,
    RetiredPages,
)

_BYTES_PER_KB = 1024  # NVML reports PCIe throughput in KB/s, kilo meaning 1024 as in its memory sizes
# c_nvmlValue_t member by NVML_VALUE_TYPE_* (double, uint, ulong, ulonglong, slonglong, sint, ushort).
_VALUE_FIELDS = {0: "dVal", 1: "uiVal", 2: "ulVal", 3: "ullVal", 4: "sllVal", 5: "siVal", 6: "usVal"}
# Read together in one nvmlDeviceGetFieldValues call per GPU and scrape: (field, pynvml constant).
FIELD_VALUES = (
    ("pcie_tx_bytes", "NVML_FI_DEV_PCIE_COUNT_TX_BYTES"),
    ("pcie_rx_bytes", "NVML_FI_DEV_PCIE_COUNT_RX_BYTES"),
    ("pcie_replays", "NVML_FI_DEV_PCIE_REPLAY_COUNTER"),
    ("memory_temperature", "NVML_FI_DEV_MEMORY_TEMP"),
)


class DeviceReader:
    """Turns NVML calls into typed readings, keeping the state that must survive scrapes.

    The busy-seconds integral and the last sample timestamps live here (and in `ProcessReader`), per GPU
    UUID, so several scrapers share one integral: each driver sample is counted exactly once.
    """

    def __init__(
        self,
        nvml: Any,
        fields: FieldReader,
        pcie_sampling: bool = False,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._nvml = nvml
        self._fields = fields
        self._pcie_sampling = pcie_sampling
        # Bindings older than a field id lack its constant: that field is simply not asked for.
        self._field_ids = tuple(
            (field, getattr(nvml, constant))
            for field, constant in FIELD_VALUES
            if isinstance(getattr(nvml, constant, None), int)
        )
        self._busy: dict[str, tuple[int, float]] = {}  # uuid -> (last sample timestamp us, busy seconds)
        self._occupants = ProcessReader(fields, clock)

    def identity(self, index: int, handle: Any) -> DeviceIdentity | None:
        """UUID, name and PCI address; None when even the UUID cannot be read this time."""
        read, key = self._fields.read, f"index/{index}"
        uuid = read(key, "uuid", "nvmlDeviceGetUUID", handle)
        if uuid is None:
            return None
        name = read(key, "name", "nvmlDeviceGetName", handle)
        pci = read(key, "pci", "nvmlDeviceGetPciInfo", handle)
        return DeviceIdentity(index, text(uuid), text(name or ""), text(pci.busId) if pci is not None else "")

    def read(self, identity: DeviceIdentity, handle: Any, processes: bool) -> DeviceReading:
        nvml, read, key = self._nvml, self._fields.read, identity.uuid
        reading = DeviceReading(identity=identity)
        mig = read(key, "mig", "nvmlDeviceGetMigMode", handle)
        reading.mig_enabled = None if mig is None else mig[0] == nvml.NVML_DEVICE_MIG_ENABLE
        if not reading.mig_enabled:  # NVML has no utilization for MIG-enabled GPUs
            util = read(key, "utilization", "nvmlDeviceGetUtilizationRates", handle)
            if util is not None:
                reading.utilization_ratio = ratio(util.gpu)
                reading.memory_utilization_ratio = ratio(util.memory)
            reading.busy_seconds = self._busy_seconds(key, handle)
        reading.memory = self._memory(key, handle)
        temperature = self._fields.first(
            key,
            (
                ("temperature_v", "nvmlDeviceGetTemperatureV", (handle, nvml.NVML_TEMPERATURE_GPU)),
                ("temperature", "nvmlDeviceGetTemperature", (handle, nvml.NVML_TEMPERATURE_GPU)),
            ),
        )
        reading.temperature_celsius = None if temperature is None else float(temperature)
        reading.power_watts = _scaled(read(key, "power", "nvmlDeviceGetPowerUsage", handle), 1e-3)
        reading.power_limit_watts = _scaled(
            read(key, "power_limit", "nvmlDeviceGetEnforcedPowerLimit", handle), 1e-3
        )
        reading.energy_joules = _scaled(
            read(key, "energy", "nvmlDeviceGetTotalEnergyConsumption", handle), 1e-3
        )
        reading.sm_clock_hertz = _scaled(
            read(key, "sm_clock", "nvmlDeviceGetClockInfo", handle, nvml.NVML_CLOCK_SM), 1e6
        )
        reading.memory_clock_hertz = _scaled(
            read(key, "memory_clock", "nvmlDeviceGetClockInfo", handle, nvml.NVML_CLOCK_MEM), 1e6
        )
        fan = read(key, "fan", "nvmlDeviceGetFanSpeed", handle)
        reading.fan_speed_ratio = None if fan is None else float(fan) / 100.0
        pstate = read(key, "pstate", "nvmlDeviceGetPerformanceState", handle)
        reading.performance_state = pstate if pstate is not None and 0 <= pstate <= 15 else None
        self._field_values(reading, handle)
        if self._pcie_sampling:  # each call samples a byte counter for ~20 ms inside the driver
            reading.pcie_tx_bytes_per_second = _scaled(
                read(key, "pcie", "nvmlDeviceGetPcieThroughput", handle, nvml.NVML_PCIE_UTIL_TX_BYTES),
                _BYTES_PER_KB,
            )
            reading.pcie_rx_bytes_per_second = _scaled(
                read(key, "pcie", "nvmlDeviceGetPcieThroughput", handle, nvml.NVML_PCIE_UTIL_RX_BYTES),
                _BYTES_PER_KB,
            )
        reading.clock_event_mask = self._fields.first(
            key,
            (
                ("clock_events", "nvmlDeviceGetCurrentClocksEventReasons", (handle,)),
                ("clock_throttle", "nvmlDeviceGetCurrentClocksThrottleReasons", (handle,)),
            ),
        )
        reading.ecc = self._ecc(key, handle)
        rows = read(key, "remapped_rows", "nvmlDeviceGetRemappedRows", handle)
        if rows is not None:
            reading.remapped_rows = RemappedRows(int(rows[0]), int(rows[1]), bool(rows[2]), bool(rows[3]))
        reading.retired_pages = self._retired_pages(key, handle)
        if reading.mig_enabled:
            reading.mig_instances = self._occupants.mig_instances(key, handle, processes, self._memory)
        if processes:
            if not reading.mig_enabled:
                reading.processes = self._occupants.processes(key, handle)
            reading.process_utilization = self._occupants.utilization(key, handle)
        return reading

    def _field_values(self, reading: DeviceReading, handle: Any) -> None:
        values = self._fields.values(reading.identity.uuid, handle, self._field_ids)
        number = {field: union_value(entry.valueType, entry.value) for field, entry in values.items()}
        if None in number.values():  # a value type newer than this code: omitted this scrape
            self._fields.incomplete = True
        reading.pcie_tx_bytes = number.get("pcie_tx_bytes")
        reading.pcie_rx_bytes = number.get("pcie_rx_bytes")
        replays = number.get("pcie_replays")
        reading.pcie_replays = None if replays is None else int(replays)
        reading.memory_temperature_celsius = number.get("memory_temperature")

    def _memory(self, key: str, handle: Any) -> MemoryReading | None:
        nvml = self._nvml
        attempts: tuple[tuple[str, str, tuple[Any, ...]], ...] = (
            ("memory", "nvmlDeviceGetMemoryInfo", (handle,)),
        )
        version = getattr(nvml, "nvmlMemory_v2", None)
        if version is not None:
            attempts = (("memory_v2", "nvmlDeviceGetMemoryInfo", (handle, version)), *attempts)
        memory = self._fields.first(key, attempts)
        if memory is None:
            return None
        reserved = getattr(memory, "reserved", None)
        return MemoryReading(int(memory.used), int(memory.total), None if reserved is None else int(reserved))

    def _busy_seconds(self, key: str, handle: Any) -> float | None:
        """Integrate utilization samples: each sample's busy fraction times the time since the one before."""
        last_ts, busy = self._busy.get(key, (0, 0.0))
        result = self._fields.read(
            key,
            "samples",
            "nvmlDeviceGetSamples",
            handle,
            self._nvml.NVML_GPU_UTILIZATION_SAMPLES,
            last_ts,
            no_data=(NOT_FOUND,),
        )
        if result is None:
            return None
        if result is not NO_DATA:
            value_type, samples = result
            attribute = _VALUE_FIELDS.get(int(value_type), "uiVal")
            for sample in sorted(samples, key=lambda s: int(s.timeStamp)):
                stamp = int(sample.timeStamp)
                if stamp <= last_ts:
                    continue
                if last_ts:  # the very first sample only sets the starting point
                    busy += ratio(getattr(sample.sampleValue, attribute)) * (stamp - last_ts) / 1e6
                last_ts = stamp
        self._busy[key] = (last_ts, busy)
        return busy

    def _ecc(self, key: str, handle: Any) -> EccCounts | None:
        nvml, counts = self._nvml, []
        for error_type, error_code_ in (
            ("corrected", nvml.NVML_MEMORY_ERROR_TYPE_CORRECTED),
            ("uncorrected", nvml.NVML_MEMORY_ERROR_TYPE_UNCORRECTED),
        ):
            for counter, counter_code in (
                ("volatile", nvml.NVML_VOLATILE_ECC),
                ("aggregate", nvml.NVML_AGGREGATE_ECC),
            ):
                count = self._fields.read(
                    key, "ecc", "nvmlDeviceGetTotalEccErrors", handle, error_code_, counter_code
                )
                if count is None:
                    if "ecc" in self._fields.unavailable(key):
                        return None
                    continue
                counts.append((error_type, counter, int(count)))
        return EccCounts(tuple(counts)) if counts else None

    def _retired_pages(self, key: str, handle: Any) -> RetiredPages | None:
        nvml, read = self._nvml, self._fields.read
        single = read(
            key,
            "retired_pages",
            "nvmlDeviceGetRetiredPages",
            handle,
            nvml.NVML_PAGE_RETIREMENT_CAUSE_MULTIPLE_SINGLE_BIT_ECC_ERRORS,
        )
        if single is None:
            return None
        double = read(
            key,
            "retired_pages",
            "nvmlDeviceGetRetiredPages",
            handle,
            nvml.NVML_PAGE_RETIREMENT_CAUSE_DOUBLE_BIT_ECC_ERROR,
        )
        if double is None:
            return None
        pending = read(key, "retired_pages_pending", "nvmlDeviceGetRetiredPagesPendingStatus", handle)
        return RetiredPages(len(single), len(double), None if pending is None else bool(pending))


def union_value(value_type: int, value: Any) -> float | None:
    """The number in a `c_nvmlValue_t` union, read as `value_type` (NVML_VALUE_TYPE_*) says; None for
    a type newer than this table."""
    attribute = _VALUE_FIELDS.get(int(value_type))
    return None if attribute is None else float(getattr(value, attribute))


def _scaled(value: Any, factor: float) -> float | None:
    return None if value is None else float(value) * factor

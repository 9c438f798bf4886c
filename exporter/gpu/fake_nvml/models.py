"""GPU models the fake knows: names as NVML reports them, sizes, power and clock ranges, and what each lacks.

Modelled on NVIDIA's own mock (go-nvml `pkg/nvml/mock/dgxa100`, `dgxh100`): a per-model spec that a
scenario picks by key and may override per GPU.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import pynvml

GIB = 1024**3
MIB = 1024**2

# Every field a scenario may mark unsupported or forbidden, and the pynvml calls that read it.
FIELD_FUNCTIONS: dict[str, tuple[str, ...]] = {
    "utilization": ("nvmlDeviceGetUtilizationRates",),
    "samples": ("nvmlDeviceGetSamples",),
    "memory": ("nvmlDeviceGetMemoryInfo",),
    "temperature": ("nvmlDeviceGetTemperature", "nvmlDeviceGetTemperatureV"),
    "power": ("nvmlDeviceGetPowerUsage",),
    "power_limit": ("nvmlDeviceGetEnforcedPowerLimit",),
    "energy": ("nvmlDeviceGetTotalEnergyConsumption",),
    "clocks": ("nvmlDeviceGetClockInfo",),
    "fan": ("nvmlDeviceGetFanSpeed",),
    "pstate": ("nvmlDeviceGetPerformanceState",),
    "pcie": ("nvmlDeviceGetPcieThroughput",),  # and the PCIe byte counter field values
    "pcie_replays": (),  # a field value only
    "memory_temperature": (),  # a field value only
    "clock_events": ("nvmlDeviceGetCurrentClocksEventReasons", "nvmlDeviceGetCurrentClocksThrottleReasons"),
    "ecc": ("nvmlDeviceGetTotalEccErrors",),
    "remapped_rows": ("nvmlDeviceGetRemappedRows",),
    "retired_pages": ("nvmlDeviceGetRetiredPages", "nvmlDeviceGetRetiredPagesPendingStatus"),
    "mig": ("nvmlDeviceGetMigMode", "nvmlDeviceGetMaxMigDeviceCount"),
    "processes": ("nvmlDeviceGetComputeRunningProcesses",),
    "process_utilization": ("nvmlDeviceGetProcessUtilization",),
    "events": ("nvmlDeviceRegisterEvents",),
    "field_values": ("nvmlDeviceGetFieldValues",),  # the whole call; its fields are listed below
}
FUNCTION_FIELD = {function: name for name, functions in FIELD_FUNCTIONS.items() for function in functions}
# The nvmlDeviceGetFieldValues ids the fake answers, by the field a scenario names to withhold them;
# any other id comes back NOT_SUPPORTED in its own entry.
FIELD_IDS: dict[int, str] = {
    pynvml.NVML_FI_DEV_PCIE_COUNT_TX_BYTES: "pcie",
    pynvml.NVML_FI_DEV_PCIE_COUNT_RX_BYTES: "pcie",
    pynvml.NVML_FI_DEV_PCIE_REPLAY_COUNTER: "pcie_replays",
    pynvml.NVML_FI_DEV_MEMORY_TEMP: "memory_temperature",
}


@dataclass(frozen=True)
class GpuModel:
    key: str
    name: str
    memory_total_bytes: int
    memory_reserved_bytes: int
    power_idle_watts: float
    power_limit_watts: float
    temperature_idle_celsius: float
    temperature_max_celsius: float
    sm_clock_idle_mhz: int
    sm_clock_max_mhz: int
    memory_clock_mhz: int
    pcie_max_kbps: int
    unsupported: frozenset[str] = frozenset()
    # MIG profile name -> memory of one such device; empty for GPUs without MIG.
    mig_profiles: dict[str, int] = field(default_factory=dict)
    max_mig_devices: int = 7


MODELS: dict[str, GpuModel] = {
    model.key: model
    for model in (
        GpuModel(
            key="H100-SXM5-80GB",
            name="NVIDIA H100 80GB HBM3",
            memory_total_bytes=81559 * MIB,
            memory_reserved_bytes=542 * MIB,
            power_idle_watts=72.0,
            power_limit_watts=700.0,
            temperature_idle_celsius=31.0,
            temperature_max_celsius=71.0,
            sm_clock_idle_mhz=345,
            sm_clock_max_mhz=1980,
            memory_clock_mhz=2619,
            pcie_max_kbps=50_000_000,
            # Passively cooled; Hopper remaps rows instead of retiring pages.
            unsupported=frozenset({"fan", "retired_pages"}),
            mig_profiles={
                "1g.10gb": 9856 * MIB,
                "1g.20gb": 19968 * MIB,
                "2g.20gb": 19968 * MIB,
                "3g.40gb": 40192 * MIB,
                "4g.40gb": 40192 * MIB,
                "7g.80gb": 80384 * MIB,
            },
        ),
        GpuModel(
            key="A100-SXM4-80GB",
            name="NVIDIA A100-SXM4-80GB",
            memory_total_bytes=81920 * MIB,
            memory_reserved_bytes=609 * MIB,
            power_idle_watts=62.0,
            power_limit_watts=400.0,
            temperature_idle_celsius=29.0,
            temperature_max_celsius=68.0,
            sm_clock_idle_mhz=210,
            sm_clock_max_mhz=1410,
            memory_clock_mhz=1593,
            pcie_max_kbps=25_000_000,
            unsupported=frozenset({"fan", "retired_pages"}),
            mig_profiles={
                "1g.10gb": 9728 * MIB,
                "1g.20gb": 19968 * MIB,
                "2g.20gb": 19968 * MIB,
                "3g.40gb": 40192 * MIB,
                "4g.40gb": 40192 * MIB,
                "7g.80gb": 80896 * MIB,
            },
        ),
        GpuModel(
            key="V100-SXM2-32GB",
            name="Tesla V100-SXM2-32GB",
            memory_total_bytes=32768 * MIB,
            memory_reserved_bytes=0,
            power_idle_watts=42.0,
            power_limit_watts=300.0,
            temperature_idle_celsius=33.0,
            temperature_max_celsius=74.0,
            sm_clock_idle_mhz=135,
            sm_clock_max_mhz=1530,
            memory_clock_mhz=877,
            pcie_max_kbps=12_000_000,
            # Volta retires pages; row remapping arrived with Ampere.
            unsupported=frozenset({"fan", "remapped_rows"}),
        ),
        GpuModel(
            key="GTX-1080",
            name="NVIDIA GeForce GTX 1080",
            memory_total_bytes=8192 * MIB,
            memory_reserved_bytes=0,
            power_idle_watts=8.0,
            power_limit_watts=180.0,
            temperature_idle_celsius=38.0,
            temperature_max_celsius=83.0,
            sm_clock_idle_mhz=139,
            sm_clock_max_mhz=1885,
            memory_clock_mhz=5005,
            pcie_max_kbps=12_000_000,
            # A consumer Pascal board: no ECC, no row remapping or page retirement, no energy counter,
            # GDDR memory without a temperature sensor.
            unsupported=frozenset(
                {"ecc", "remapped_rows", "retired_pages", "energy", "process_utilization"}
                | {"memory_temperature"}
            ),
        ),
    )
}

"""Typed results of one NVML read: what the GPU collector renders and what attribution consumes.

A field is None when the GPU or driver does not support it (or refused it): the collector then
omits the series instead of inventing a value.
"""

from __future__ import annotations

from dataclasses import dataclass, field

# NVML's clock event (throttle) reason bits, decoded to stable label values.
CLOCK_EVENT_REASONS: tuple[tuple[str, int], ...] = (
    ("gpu_idle", 0x1),
    ("applications_clocks", 0x2),
    ("sw_power_cap", 0x4),
    ("hw_slowdown", 0x8),
    ("sync_boost", 0x10),
    ("sw_thermal", 0x20),
    ("hw_thermal", 0x40),
    ("hw_power_brake", 0x80),
    ("display_clock", 0x100),
)


@dataclass(frozen=True)
class DeviceIdentity:
    """What stays the same for a GPU between scrapes (read once per NVML initialisation)."""

    index: int
    uuid: str
    name: str = ""
    pci_bus_id: str = ""


@dataclass(frozen=True)
class MemoryReading:
    used_bytes: int
    total_bytes: int
    reserved_bytes: int | None = None


@dataclass(frozen=True)
class ProcessInfo:
    """A compute process on a GPU or MIG device; used memory is None where NVML cannot tell (MIG)."""

    pid: int
    used_memory_bytes: int | None
    gpu_instance: int | None = None
    compute_instance: int | None = None


@dataclass(frozen=True)
class ProcessUtilization:
    """One per-process utilization sample (ratios 0-1, timestamp in microseconds)."""

    pid: int
    sm_ratio: float
    memory_ratio: float
    timestamp_us: int


@dataclass(frozen=True)
class MigInstance:
    """One MIG device. `slot` is the index NVML found it at (nvmlDeviceGetMigDeviceHandleByIndex), the
    `M` of the device plugin's `N:M` ids; slots may be empty, so it is not the position in a list."""

    mig_uuid: str
    gpu_instance: int | None
    compute_instance: int | None
    profile: str
    memory: MemoryReading | None = None
    processes: tuple[ProcessInfo, ...] | None = None
    slot: int = field(kw_only=True)


@dataclass(frozen=True)
class EccCounts:
    """ECC error counts keyed by (error_type, counter): corrected|uncorrected, volatile|aggregate."""

    counts: tuple[tuple[str, str, int], ...]


@dataclass(frozen=True)
class RemappedRows:
    correctable: int
    uncorrectable: int
    pending: bool
    failure: bool


@dataclass(frozen=True)
class RetiredPages:
    single_bit_ecc: int
    double_bit_ecc: int
    pending: bool | None


@dataclass
class DeviceReading:
    """One GPU as read in one scrape; `up` False means it did not answer (only identity is set)."""

    identity: DeviceIdentity
    up: bool = True
    utilization_ratio: float | None = None
    memory_utilization_ratio: float | None = None
    busy_seconds: float | None = None
    memory: MemoryReading | None = None
    temperature_celsius: float | None = None
    memory_temperature_celsius: float | None = None
    power_watts: float | None = None
    power_limit_watts: float | None = None
    energy_joules: float | None = None
    sm_clock_hertz: float | None = None
    memory_clock_hertz: float | None = None
    fan_speed_ratio: float | None = None
    performance_state: int | None = None
    # Cumulative counters (field values); the sampled rates only with --gpu.pcie-throughput-sampling.
    pcie_tx_bytes: float | None = None
    pcie_rx_bytes: float | None = None
    pcie_replays: int | None = None
    pcie_tx_bytes_per_second: float | None = None
    pcie_rx_bytes_per_second: float | None = None
    clock_event_mask: int | None = None
    ecc: EccCounts | None = None
    remapped_rows: RemappedRows | None = None
    retired_pages: RetiredPages | None = None
    mig_enabled: bool | None = None
    mig_instances: tuple[MigInstance, ...] = ()
    # Read only when processes are requested (attribution); never exported by the GPU collector.
    processes: tuple[ProcessInfo, ...] | None = None
    process_utilization: tuple[ProcessUtilization, ...] | None = None


@dataclass(frozen=True)
class XidRecord:
    count: int
    last_seen: float


@dataclass(frozen=True)
class XidKey:
    index: int
    uuid: str
    xid: int


@dataclass
class NvmlSnapshot:
    """Everything one scrape learned from NVML, plus the source's own counters."""

    nvml_up: bool
    complete: bool
    driver_version: str = ""
    cuda_driver_version: str = ""
    devices: tuple[DeviceReading, ...] = ()
    errors: dict[str, int] = field(default_factory=dict)
    reinits: int = 0
    call_timeouts: int = 0
    xids: dict[XidKey, XidRecord] = field(default_factory=dict)
    problem: str = ""

"""The scenario the fake NVML runs: GPUs, their patterns and faults, as validated, frozen data.

`exporter.gpu.fake_nvml.scenario_file` reads one from YAML; its docstring shows the format.
"""

from __future__ import annotations

from dataclasses import dataclass

from exporter.gpu.fake_nvml.models import GpuModel
from exporter.gpu.fake_nvml.patterns import Pattern


@dataclass(frozen=True)
class FakeProcess:
    pid: int
    used_memory_bytes: int
    sm_ratio: float


@dataclass(frozen=True)
class FakeMig:
    slot: int
    profile: str
    gpu_instance: int
    compute_instance: int
    memory_total_bytes: int
    memory_used_bytes: int
    processes: tuple[FakeProcess, ...]


@dataclass(frozen=True)
class FakeGpu:
    index: int
    model: GpuModel
    uuid: str
    pci_bus_id: str
    utilization: Pattern
    memory_utilization: Pattern | None
    memory_used_bytes: int
    clock_events: frozenset[str]
    ecc: dict[str, int]
    remapped_rows: tuple[int, int, bool, bool]
    retired_pages: tuple[int, int, bool]
    pcie_replays: int
    unsupported: frozenset[str]
    no_permission: frozenset[str]
    mig: tuple[FakeMig, ...] | None
    xids: tuple[tuple[float, int], ...]
    lost_at: float | None
    processes: tuple[FakeProcess, ...]


@dataclass(frozen=True)
class Hang:
    function: str
    at: float
    gpu: int | None


@dataclass(frozen=True)
class Scenario:
    name: str
    description: str
    driver_version: str
    cuda_driver_version: int
    sample_interval: float
    gpus: tuple[FakeGpu, ...]
    missing_functions: frozenset[str]
    hang: Hang | None
    init_error: tuple[str, float | None] | None

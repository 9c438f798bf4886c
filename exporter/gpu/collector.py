"""GPU collector: renders one NVML snapshot per scrape as metric families (no I/O here).

Sample output (h100-8x scenario, one GPU):

    nvidia_gpu_info{gpu="0",uuid="GPU-8090...",name="NVIDIA H100 80GB HBM3",backend="fake",...} 1
    nvidia_gpu_up{gpu="0",uuid="GPU-8090..."} 1
    nvidia_gpu_busy_seconds_total{gpu="0",uuid="GPU-8090..."} 1234.5
    nvidia_gpu_clock_event_active{gpu="0",uuid="GPU-8090...",reason="sw_power_cap"} 0
"""

from __future__ import annotations

from typing import Protocol

from exporter.catalogue.families import FamilySet
from exporter.collector import Health
from exporter.gpu import catalogue as m
from exporter.gpu.nvml_types import CLOCK_EVENT_REASONS, DeviceReading, NvmlSnapshot


class Source(Protocol):
    """What the collector needs from `exporter.gpu.nvml.NvmlSource`."""

    def read(self) -> NvmlSnapshot: ...

    def health(self) -> Health: ...

    def close(self) -> None: ...

    def last_snapshot(self) -> NvmlSnapshot | None: ...

    def enable_processes(self) -> None: ...


class GpuCollector:
    name = "gpu"

    def __init__(self, source: Source, node: str, backend: str) -> None:
        self.source = source
        self._node = node
        self._backend = backend

    def collect(self, out: FamilySet) -> bool:
        snapshot = self.source.read()
        out.add(m.NVML_UP, 1 if snapshot.nvml_up else 0)
        out.add(m.NVML_REINITS, snapshot.reinits)
        out.add(m.NVML_CALL_TIMEOUTS, snapshot.call_timeouts)
        out.touch((m.NVML_ERRORS,))
        for kind, count in sorted(snapshot.errors.items()):
            out.add(m.NVML_ERRORS, count, kind=kind)
        for device in snapshot.devices:
            self._device(out, snapshot, device)
        for key, record in sorted(snapshot.xids.items(), key=lambda item: (item[0].index, item[0].xid)):
            labels = {"gpu": str(key.index), "uuid": key.uuid, "xid": str(key.xid)}
            out.add(m.XID_ERRORS, record.count, **labels)
            out.add(m.XID_LAST_SEEN, record.last_seen, **labels)
        return snapshot.complete

    def _device(self, out: FamilySet, snapshot: NvmlSnapshot, device: DeviceReading) -> None:
        identity = device.identity
        gpu = {"gpu": str(identity.index), "uuid": identity.uuid}
        out.add(
            m.INFO,
            1,
            **gpu,
            name=identity.name,
            pci_bus_id=identity.pci_bus_id,
            driver_version=snapshot.driver_version,
            cuda_driver_version=snapshot.cuda_driver_version,
            node=self._node,
            backend=self._backend,
        )
        out.add(m.UP, 1 if device.up else 0, **gpu)
        if not device.up:
            return
        for spec, value in (
            (m.UTILIZATION, device.utilization_ratio),
            (m.MEMORY_UTILIZATION, device.memory_utilization_ratio),
            (m.BUSY_SECONDS, device.busy_seconds),
            (m.TEMPERATURE, device.temperature_celsius),
            (m.MEMORY_TEMPERATURE, device.memory_temperature_celsius),
            (m.POWER, device.power_watts),
            (m.POWER_LIMIT, device.power_limit_watts),
            (m.ENERGY, device.energy_joules),
            (m.SM_CLOCK, device.sm_clock_hertz),
            (m.MEMORY_CLOCK, device.memory_clock_hertz),
            (m.FAN_SPEED, device.fan_speed_ratio),
            (m.PERFORMANCE_STATE, device.performance_state),
        ):
            if value is not None:
                out.add(spec, value, **gpu)
        if device.memory is not None:
            out.add(m.MEMORY_USED, device.memory.used_bytes, **gpu)
            out.add(m.MEMORY_TOTAL, device.memory.total_bytes, **gpu)
            if device.memory.reserved_bytes is not None:
                out.add(m.MEMORY_RESERVED, device.memory.reserved_bytes, **gpu)
        self._pcie(out, gpu, device)
        if device.clock_event_mask is not None:
            for reason, bit in CLOCK_EVENT_REASONS:
                out.add(m.CLOCK_EVENT, 1 if device.clock_event_mask & bit else 0, **gpu, reason=reason)
        self._memory_errors(out, gpu, device)
        self._mig(out, gpu, device)

    @staticmethod
    def _pcie(out: FamilySet, gpu: dict[str, str], device: DeviceReading) -> None:
        for spec, tx, rx in (
            (m.PCIE_BYTES, device.pcie_tx_bytes, device.pcie_rx_bytes),
            (m.PCIE_THROUGHPUT, device.pcie_tx_bytes_per_second, device.pcie_rx_bytes_per_second),
        ):
            for direction, amount in (("tx", tx), ("rx", rx)):
                if amount is not None:
                    out.add(spec, amount, **gpu, direction=direction)
        if device.pcie_replays is not None:
            out.add(m.PCIE_REPLAYS, device.pcie_replays, **gpu)

    @staticmethod
    def _memory_errors(out: FamilySet, gpu: dict[str, str], device: DeviceReading) -> None:
        if device.ecc is not None:
            for error_type, counter, count in device.ecc.counts:
                out.add(m.ECC_ERRORS, count, **gpu, error_type=error_type, counter=counter)
        rows = device.remapped_rows
        if rows is not None:
            out.add(m.REMAPPED_ROWS, rows.correctable, **gpu, severity="correctable")
            out.add(m.REMAPPED_ROWS, rows.uncorrectable, **gpu, severity="uncorrectable")
            out.add(m.REMAPPED_ROWS_PENDING, 1 if rows.pending else 0, **gpu)
            out.add(m.REMAPPED_ROWS_FAILURE, 1 if rows.failure else 0, **gpu)
        pages = device.retired_pages
        if pages is not None:
            out.add(m.RETIRED_PAGES, pages.single_bit_ecc, **gpu, cause="single_bit_ecc")
            out.add(m.RETIRED_PAGES, pages.double_bit_ecc, **gpu, cause="double_bit_ecc")
            if pages.pending is not None:
                out.add(m.RETIRED_PAGES_PENDING, 1 if pages.pending else 0, **gpu)

    @staticmethod
    def _mig(out: FamilySet, gpu: dict[str, str], device: DeviceReading) -> None:
        if device.mig_enabled is None:
            return
        out.add(m.MIG_MODE, 1 if device.mig_enabled else 0, **gpu)
        for mig in device.mig_instances:
            out.add(
                m.MIG_INSTANCE_INFO,
                1,
                **gpu,
                mig_uuid=mig.mig_uuid,
                gpu_instance="" if mig.gpu_instance is None else str(mig.gpu_instance),
                compute_instance="" if mig.compute_instance is None else str(mig.compute_instance),
                profile=mig.profile,
            )
            if mig.memory is not None:
                out.add(m.MIG_MEMORY_USED, mig.memory.used_bytes, **gpu, mig_uuid=mig.mig_uuid)
                out.add(m.MIG_MEMORY_TOTAL, mig.memory.total_bytes, **gpu, mig_uuid=mig.mig_uuid)

    def health(self) -> Health:
        return self.source.health()

    def close(self) -> None:
        self.source.close()

    def last_snapshot(self) -> NvmlSnapshot | None:
        """The snapshot of the latest scrape, processes included once `enable_processes()` was called."""
        return self.source.last_snapshot()

    def enable_processes(self) -> None:
        self.source.enable_processes()

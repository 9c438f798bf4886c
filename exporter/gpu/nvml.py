"""The NVML source: GPU readings through an injected pynvml-compatible module (real `pynvml` or the fake).

Every NVML call runs on one worker thread (see nvml_worker). A scrape asks for one "read all
devices" job and waits at most `call_timeout`; overlapping scrapes share the job in flight.

Error semantics (upstream facts): unsupported fields are omitted and remembered per device; a GPU
answering GPU_IS_LOST is reported down while the other GPUs are still read, and NVML is
re-initialised with exponential backoff in case the driver recovers it; when NVML as a whole fails
(driver unloaded, version mismatch) it is shut down and initialised again on a later scrape, with
the same backoff. GPUs seen before stay visible as down.
"""

from __future__ import annotations

import dataclasses
import logging
import threading
import time
from collections.abc import Callable
from typing import Any

from exporter.collector import Health
from exporter.gpu.nvml_device import DeviceReader
from exporter.gpu.nvml_errors import (
    GPU_LOST,
    NVML_DOWN,
    DeviceLost,
    ErrorCounter,
    FieldReader,
    NvmlDown,
    error_code,
)
from exporter.gpu.nvml_events import XidWatcher
from exporter.gpu.nvml_types import DeviceIdentity, DeviceReading, NvmlSnapshot
from exporter.gpu.nvml_worker import SerialWorker, WorkerBusy

log = logging.getLogger("exporter.gpu")


@dataclasses.dataclass
class Backoff:
    """Exponential backoff between attempts: `initial`, doubling up to `maximum`."""

    initial: float
    maximum: float
    delay: float = 0.0
    next_at: float = 0.0

    def ready(self, now: float) -> bool:
        return now >= self.next_at

    def failed(self, now: float) -> float:
        self.delay = min(self.maximum, self.delay * 2) if self.delay else self.initial
        self.next_at = now + self.delay
        return self.delay

    def reset(self) -> None:
        self.delay, self.next_at = 0.0, 0.0


def cuda_version_text(version: int) -> str:
    """NVML's CUDA driver version integer (12040) as text ("12.4")."""
    return f"{version // 1000}.{version % 1000 // 10}"


class NvmlSource:
    """Reads every GPU on each `read()`; never raises and never blocks longer than `call_timeout`."""

    def __init__(
        self,
        nvml: Any,
        *,
        call_timeout: float = 2.0,
        clock: Callable[[], float] = time.monotonic,
        wall_clock: Callable[[], float] = time.time,
        xid_events: bool = True,
        backoff: Backoff | None = None,
        event_wait_ms: int = 500,
        pcie_sampling: bool = False,
    ) -> None:
        self.nvml = nvml
        self.call_timeout = call_timeout
        self._clock = clock
        self._errors = ErrorCounter(nvml)
        self._fields = FieldReader(nvml, self._errors)
        self._reader = DeviceReader(nvml, self._fields, pcie_sampling, clock)
        self.xids = XidWatcher(nvml, self._errors, wall_clock, event_wait_ms) if xid_events else None
        self._worker = SerialWorker("nvml")
        self._backoff = backoff or Backoff(initial=2.0, maximum=300.0)
        self._processes = False
        self._closed = False
        # Worker-thread state.
        self._initialised = False
        self._attempts = 0
        self._handles: list[tuple[DeviceIdentity, Any]] = []
        self._lost: dict[int, DeviceIdentity] = {}
        self._known: dict[int, DeviceIdentity] = {}
        self._driver_version = ""
        self._cuda_version = ""
        self.reinits = 0
        self.problem = ""
        # Shared with scrape threads.
        self._lock = threading.Lock()
        self._call_timeouts = 0
        self._last: NvmlSnapshot | None = None

    def start(self) -> None:
        """Initialise NVML in the background now, so XID watching starts before the first scrape."""
        self._worker.submit(self._read_all, share="read")

    def enable_processes(self) -> None:
        """Also read compute processes and their utilization (for attribution; not exported here)."""
        self._processes = True

    def read(self) -> NvmlSnapshot:
        try:
            snapshot = self._worker.call(self._read_all, self.call_timeout, share="read")
        except WorkerBusy as exc:
            with self._lock:
                self._call_timeouts += 1
            log.warning("GPU scrape failed: %s", exc)
            snapshot = self._down(str(exc), dict(self._known))  # a C-level copy: the worker may be adding
        with self._lock:
            snapshot = dataclasses.replace(
                snapshot,
                call_timeouts=self._call_timeouts,
                xids=self.xids.records() if self.xids else {},
            )
            self._last = snapshot
        return snapshot

    def last_snapshot(self) -> NvmlSnapshot | None:
        with self._lock:
            return self._last

    def health(self) -> Health:
        stuck = self._worker.stuck_for()
        if stuck >= self.call_timeout:
            return Health(False, f"NVML call hung for {stuck:.0f} s")
        return Health(True, self.problem)

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        if self.xids:
            self.xids.stop()  # first, so the event thread ends with its current wait
        try:
            self._worker.call(self._shutdown, self.call_timeout)
        except WorkerBusy:
            log.warning("NVML still hung at exit: not shutting it down")
        self._worker.stop()
        if self.xids:
            self.xids.close()

    # Everything below runs on the worker thread.

    def _down(self, problem: str, known: dict[int, DeviceIdentity]) -> NvmlSnapshot:
        return NvmlSnapshot(
            nvml_up=False,
            complete=False,
            driver_version=self._driver_version,
            cuda_driver_version=self._cuda_version,
            devices=tuple(DeviceReading(identity, up=False) for _, identity in sorted(known.items())),
            errors=self._errors.snapshot(),
            reinits=self.reinits,
            problem=problem,
        )

    def _read_all(self) -> NvmlSnapshot:
        now = self._clock()
        if self._initialised and self._lost and self._backoff.ready(now):
            log.info("re-initialising NVML to look for lost GPU(s) %s", sorted(self._lost))
            self._shutdown()
        if not self._initialised:
            if not self._backoff.ready(now):
                return self._down(self.problem, self._known)
            try:
                self._init(now)
            except NvmlDown as exc:
                self._fail(now, f"NVML initialisation failed: {exc}")
                return self._down(self.problem, self._known)
        self._fields.incomplete = False
        devices: list[DeviceReading] = []
        try:
            for identity, handle in self._handles:
                if identity.index in self._lost:
                    devices.append(DeviceReading(identity, up=False))
                    continue
                try:
                    devices.append(self._reader.read(identity, handle, self._processes))
                except DeviceLost:
                    self._mark_lost(identity, now)
                    devices.append(DeviceReading(identity, up=False))
        except NvmlDown as exc:
            self._fail(now, f"NVML failed: {exc}")
            return self._down(self.problem, self._known)
        return NvmlSnapshot(
            nvml_up=True,
            complete=not self._fields.incomplete and not self._lost,
            driver_version=self._driver_version,
            cuda_driver_version=self._cuda_version,
            devices=tuple(devices),
            errors=self._errors.snapshot(),
            reinits=self.reinits,
            problem=self.problem,
        )

    def _init(self, now: float) -> None:
        nvml = self.nvml
        if self._attempts:
            self.reinits += 1
        self._attempts += 1
        self._call(nvml.nvmlInit)
        self._initialised = True
        driver = self._fields.read("system", "driver_version", "nvmlSystemGetDriverVersion")
        cuda = self._fields.read("system", "cuda_version", "nvmlSystemGetCudaDriverVersion")
        self._driver_version = "" if driver is None else str(driver)
        self._cuda_version = "" if cuda is None else cuda_version_text(int(cuda))
        count = int(self._call(nvml.nvmlDeviceGetCount))
        self._handles, self._lost = [], {}
        for index in range(max(count, max(self._known, default=-1) + 1)):
            known = self._known.get(index, DeviceIdentity(index, ""))
            try:
                if index >= count:
                    raise DeviceLost("no longer counted")
                handle = self._call(nvml.nvmlDeviceGetHandleByIndex, index, device=True)
                identity = self._reader.identity(index, handle)
                if identity is None:
                    raise DeviceLost("UUID unreadable")
            except DeviceLost:
                self._handles.append((known, None))
                self._lost[index] = known
                continue
            self._known[index] = identity
            self._handles.append((identity, handle))
        if self.xids:
            self.xids.arm([(h, i) for i, h in self._handles if i.index not in self._lost])
        if self._lost:
            delay = self._backoff.failed(now)
            self.problem = f"GPU(s) {sorted(self._lost)} lost; next NVML re-initialisation in {delay:g} s"
            log.warning("NVML initialised, but %s", self.problem)
        else:
            self._backoff.reset()
            self.problem = ""
            log.info(
                "NVML initialised: driver %s, CUDA %s, %d GPU(s)",
                self._driver_version,
                self._cuda_version,
                count,
            )

    def _call(self, function: Callable[..., Any], *args: Any, device: bool = False) -> Any:
        """A call NVML cannot do without. GPU_IS_LOST (or, for a `device` call, any device-level
        error) raises DeviceLost; otherwise the failure is NVML-wide and raises NvmlDown."""
        try:
            return function(*args)
        except self.nvml.NVMLError as exc:
            kind = self._errors.count(exc)
            code = error_code(exc)
            if code == GPU_LOST or (device and code not in NVML_DOWN):
                raise DeviceLost(kind) from None
            raise NvmlDown(f"{kind}: {exc}") from None

    def _mark_lost(self, identity: DeviceIdentity, now: float) -> None:
        if not self._lost:
            self._backoff.failed(now)
        self._lost[identity.index] = identity
        delay = max(0.0, self._backoff.next_at - now)
        self.problem = (
            f"GPU {identity.index} ({identity.uuid}) lost; next NVML re-initialisation in {delay:g} s"
        )
        log.warning("%s", self.problem)

    def _fail(self, now: float, problem: str) -> None:
        self._shutdown()
        delay = self._backoff.failed(now)
        self.problem = f"{problem}; retrying in {delay:g} s"
        log.warning("%s", self.problem)

    def _shutdown(self) -> None:
        if not self._initialised:
            return
        if self.xids:
            self.xids.disarm()
        self._initialised = False
        self._handles = []
        try:
            self.nvml.nvmlShutdown()
        except self.nvml.NVMLError as exc:
            self._errors.count(exc)

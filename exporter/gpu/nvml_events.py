"""XID critical errors from NVML's event API, counted per GPU and XID on a dedicated thread.

Creating the event set and registering devices are ordinary NVML calls and run on the NVML
worker (`arm`/`disarm`). The wait itself runs here: `nvmlEventSetWait` blocks inside the driver
for up to its timeout, which would stall every scrape if it shared the worker, and NVML's event
API is meant to be waited on from its own thread. `disarm` waits for the current wait to end
before the set is freed, so a wait never races a free or an `nvmlShutdown`.
"""

from __future__ import annotations

import ctypes
import logging
import threading
from collections.abc import Callable, Hashable
from functools import partial
from typing import Any

from exporter.gpu.nvml_errors import TIMEOUT, ErrorCounter, error_code
from exporter.gpu.nvml_types import DeviceIdentity, XidKey, XidRecord

log = logging.getLogger("exporter.gpu")


def handle_key(handle: Any) -> Hashable:
    """A key equal for two objects naming the same device: the pointer for pynvml, the object for fakes."""
    if isinstance(handle, ctypes._Pointer):
        return ("ptr", ctypes.cast(handle, ctypes.c_void_p).value)
    return handle


class XidWatcher:
    """Counts XID events; `processed` and `wait_processed()` let callers await an event deterministically."""

    def __init__(
        self, nvml: Any, errors: ErrorCounter, wall_clock: Callable[[], float], wait_ms: int = 500
    ) -> None:
        self._nvml = nvml
        self._errors = errors
        self._wall_clock = wall_clock
        self._wait_ms = wait_ms
        self._cond = threading.Condition()
        self._set: Any = None
        self._devices: dict[Hashable, DeviceIdentity] = {}
        self._waiting = False
        self._stopped = False
        self._records: dict[XidKey, XidRecord] = {}
        self.processed = 0
        self._thread: threading.Thread | None = None

    def arm(self, devices: list[tuple[Any, DeviceIdentity]]) -> None:
        """Create the event set and register every GPU that supports XID events (NVML worker only)."""
        nvml = self._nvml
        try:
            event_set = nvml.nvmlEventSetCreate()
        except nvml.NVMLError as exc:
            log.warning("XID events unavailable: nvmlEventSetCreate failed: %s", exc)
            self._errors.count(exc)
            return
        registered: dict[Hashable, DeviceIdentity] = {}
        for handle, identity in devices:
            try:
                nvml.nvmlDeviceRegisterEvents(handle, nvml.nvmlEventTypeXidCriticalError, event_set)
            except nvml.NVMLError as exc:  # NotSupported on some boards: no XIDs from that GPU
                self._errors.count(exc)
                log.info("XID events not available for GPU %d: %s", identity.index, exc)
                continue
            registered[handle_key(handle)] = identity
        with self._cond:
            self._set, self._devices = event_set, registered
            if self._thread is None:
                self._thread = threading.Thread(target=self._loop, name="nvml-events", daemon=True)
                self._thread.start()
            self._cond.notify_all()

    def disarm(self) -> None:
        """Stop waiting on the current set and free it (NVML worker only, before nvmlShutdown)."""
        with self._cond:
            event_set, self._set = self._set, None
            self._cond.notify_all()
            while self._waiting:
                self._cond.wait()
        if event_set is not None:
            try:
                self._nvml.nvmlEventSetFree(event_set)
            except self._nvml.NVMLError as exc:
                self._errors.count(exc)

    def stop(self) -> None:
        """Ask the event thread to end after its current wait; `close` waits for it."""
        with self._cond:
            self._stopped = True
            self._cond.notify_all()

    def close(self) -> None:
        self.stop()
        with self._cond:
            thread = self._thread
        if thread is not None:
            thread.join(timeout=self._wait_ms / 1000 + 1)

    def records(self) -> dict[XidKey, XidRecord]:
        with self._cond:
            return dict(self._records)

    def wait_processed(self, count: int, timeout: float) -> bool:
        """Block until at least `count` events (XID or not) were received since start; False on timeout."""
        with self._cond:
            return self._cond.wait_for(lambda: self.processed >= count, timeout)

    def _loop(self) -> None:
        nvml = self._nvml
        while True:
            with self._cond:
                self._cond.wait_for(lambda: self._stopped or self._set is not None)
                if self._stopped:
                    return
                event_set, self._waiting = self._set, True
            failed = False
            try:
                data = nvml.nvmlEventSetWait(event_set, self._wait_ms)
            except nvml.NVMLError as exc:
                data = None
                if error_code(exc) != TIMEOUT:  # a timeout only means "no event"
                    self._errors.count(exc)
                    failed = True
            with self._cond:
                self._waiting = False
                if data is not None:
                    self.processed += 1
                    self._record(data)
                self._cond.notify_all()
                if failed:  # do not spin on a broken set; disarm or close wakes us early
                    self._cond.wait_for(partial(self._moved_on, event_set), timeout=1.0)

    def _moved_on(self, event_set: Any) -> bool:
        return self._stopped or self._set is not event_set

    def _record(self, data: Any) -> None:
        if not int(data.eventType) & self._nvml.nvmlEventTypeXidCriticalError:
            return
        identity = self._devices.get(handle_key(data.device))
        if identity is None:
            return
        key = XidKey(identity.index, identity.uuid, int(data.eventData))
        previous = self._records.get(key)
        self._records[key] = XidRecord((previous.count if previous else 0) + 1, self._wall_clock())
        log.warning("XID %d on GPU %d (%s)", key.xid, key.index, key.uuid)

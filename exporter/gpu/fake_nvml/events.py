"""The fake's event API: scripted XIDs delivered through event sets the way `nvmlEventSetWait` does."""

from __future__ import annotations

import threading
import time
from types import SimpleNamespace
from typing import Any

import pynvml

from exporter.gpu.fake_nvml.scenario import Scenario

_NO_INSTANCE = 0xFFFFFFFF


class FakeEventSet:
    """What `nvmlEventSetCreate` returns: registered GPUs and how far through the script it has read."""

    def __init__(self, cursor: int) -> None:
        self.devices: set[int] = set()
        self.cursor = cursor
        self.freed = False


class FakeEvents:
    """Delivers each scripted XID, when due, to every event set created before it that registered its GPU."""

    def __init__(self, scenario: Scenario, cond: threading.Condition, real_time: bool) -> None:
        self._script = sorted((at, gpu.index, xid) for gpu in scenario.gpus for at, xid in gpu.xids)
        self._cond = cond
        self._real_time = real_time

    def create(self, t: float) -> FakeEventSet:
        # Events from before the set existed are never delivered (as after an nvmlShutdown/nvmlInit).
        with self._cond:
            return FakeEventSet(
                next((i for i, (at, _, _) in enumerate(self._script) if at >= t), len(self._script))
            )

    def register(self, event_set: Any, gpu: int, event_types: int) -> None:
        if not isinstance(event_set, FakeEventSet) or event_set.freed:
            raise pynvml.NVMLError(pynvml.NVML_ERROR_INVALID_ARGUMENT)
        if event_types & pynvml.nvmlEventTypeXidCriticalError:
            with self._cond:
                event_set.devices.add(gpu)

    def free(self, event_set: Any) -> None:
        if not isinstance(event_set, FakeEventSet) or event_set.freed:
            raise pynvml.NVMLError(pynvml.NVML_ERROR_INVALID_ARGUMENT)
        with self._cond:
            event_set.freed = True
            self._cond.notify_all()

    def wait(self, event_set: Any, timeout_ms: int, now: Any, handle: Any) -> SimpleNamespace:
        """Block until a scripted event is due (scenario time) or `timeout_ms` of real time passes."""
        if not isinstance(event_set, FakeEventSet):
            raise pynvml.NVMLError(pynvml.NVML_ERROR_INVALID_ARGUMENT)
        deadline = time.monotonic() + timeout_ms / 1000
        with self._cond:
            while True:
                if event_set.freed:
                    raise pynvml.NVMLError(pynvml.NVML_ERROR_INVALID_ARGUMENT)
                t = now()
                while event_set.cursor < len(self._script) and self._script[event_set.cursor][0] <= t:
                    _, gpu, xid = self._script[event_set.cursor]
                    event_set.cursor += 1
                    if gpu in event_set.devices:
                        return SimpleNamespace(
                            device=handle(gpu),
                            eventType=pynvml.nvmlEventTypeXidCriticalError,
                            eventData=xid,
                            gpuInstanceId=_NO_INSTANCE,
                            computeInstanceId=_NO_INSTANCE,
                        )
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise pynvml.NVMLError(pynvml.NVML_ERROR_TIMEOUT)
                if self._real_time and event_set.cursor < len(self._script):
                    remaining = min(remaining, max(self._script[event_set.cursor][0] - t, 0.001))
                # A manual clock notifies this condition when it advances.
                self._cond.wait(remaining)

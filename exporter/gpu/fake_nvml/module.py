"""A pynvml stand-in driven by a scenario: the calls the exporter makes, with pynvml's names, arguments,
return shapes (its own ctypes structures), constants and exception classes.

Anything not implemented here that pynvml defines as a constant or exception is forwarded from
pynvml; a pynvml *function* the fake lacks raises AttributeError, so a missing fake can never fall
through to the real library.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pynvml

from exporter.gpu.fake_nvml.clock import ManualClock
from exporter.gpu.fake_nvml.device_records import RecordQueries
from exporter.gpu.fake_nvml.events import FakeEvents
from exporter.gpu.fake_nvml.models import FUNCTION_FIELD
from exporter.gpu.fake_nvml.scenario import FakeGpu, FakeMig, Scenario

_INIT_ERROR_CODES = {
    "driver_not_loaded": pynvml.NVML_ERROR_DRIVER_NOT_LOADED,
    "library_not_found": pynvml.NVML_ERROR_LIBRARY_NOT_FOUND,
    "lib_rm_version_mismatch": pynvml.NVML_ERROR_LIB_RM_VERSION_MISMATCH,
    "no_permission": pynvml.NVML_ERROR_NO_PERMISSION,
}
# The only queries NVML answers on a MIG device handle among those the fake serves.
_MIG_FIELDS = frozenset({None, "memory", "processes"})


def _error(code: int) -> pynvml.NVMLError:
    return pynvml.NVMLError(code)  # pynvml maps the code to its subclass (NVMLError_NotSupported, ...)


@dataclass(frozen=True)
class FakeHandle:
    """A device handle: a GPU, or the MIG device in slot `mig` on it."""

    gpu: int
    mig: int | None = None


class FakeNvml(RecordQueries):
    """Use like the `pynvml` module: `FakeNvml(scenario).nvmlInit()`. Thread-safe like NVML itself."""

    def __init__(self, scenario: Scenario, clock: Callable[[], float] = time.monotonic) -> None:
        super().__init__(scenario)
        self._clock = clock
        self._start = clock()
        self._refcount = 0
        self._lock = threading.Condition()
        self._released = threading.Event()
        self.hang_entered = threading.Event()
        self.calls: dict[str, int] = {}
        self._handles = [FakeHandle(gpu.index) for gpu in scenario.gpus]
        self._events = FakeEvents(scenario, self._lock, real_time=not isinstance(clock, ManualClock))
        if isinstance(clock, ManualClock):
            clock.subscribe(self._wake)

    def __getattr__(self, name: str) -> Any:
        value = getattr(pynvml, name)
        if callable(value) and not isinstance(value, type):
            raise AttributeError(f"the fake NVML does not implement {name}")
        setattr(self, name, value)  # found by ordinary lookup from now on: constants are read every scrape
        return value

    def __dir__(self) -> list[str]:
        # Like the module: pynvml's constants and exception classes are listed too.
        forwarded = [
            n for n in dir(pynvml) if not callable(getattr(pynvml, n)) or isinstance(getattr(pynvml, n), type)
        ]
        return sorted(set(super().__dir__()) | set(forwarded))

    # Test controls.

    def now(self) -> float:
        """Seconds of scenario time."""
        return self._clock() - self._start

    def release(self) -> None:
        """End the scripted hang: the blocked call returns and later ones do not block."""
        self._released.set()
        self._wake()

    def _wake(self) -> None:
        with self._lock:
            self._lock.notify_all()

    # Every call starts here: missing function, hang, initialisation, lost GPU, MIG and field support.

    def _enter(self, function: str, handle: Any = None) -> tuple[FakeGpu | None, FakeMig | None, float]:
        calls = self.calls
        calls[function] = calls.get(function, 0) + 1
        scenario, t = self.scenario, self._clock() - self._start
        if function in scenario.missing_functions:
            raise _error(pynvml.NVML_ERROR_FUNCTION_NOT_FOUND)
        hang = scenario.hang
        if (
            hang
            and hang.function == function
            and t >= hang.at
            and not self._released.is_set()
            and (hang.gpu is None or (isinstance(handle, FakeHandle) and handle.gpu == hang.gpu))
        ):
            self.hang_entered.set()
            self._released.wait()  # like a driver call stuck in D-state
        if self._refcount <= 0:
            raise _error(pynvml.NVML_ERROR_UNINITIALIZED)
        if handle is None:
            return None, None, t
        if handle.__class__ is not FakeHandle or not 0 <= handle.gpu < len(scenario.gpus):
            raise _error(pynvml.NVML_ERROR_INVALID_ARGUMENT)
        gpu = scenario.gpus[handle.gpu]
        if gpu.lost_at is not None and t >= gpu.lost_at:
            raise _error(pynvml.NVML_ERROR_GPU_IS_LOST)
        field = FUNCTION_FIELD.get(function)
        mig = None
        if handle.mig is not None:
            mig = next((m for m in gpu.mig or () if m.slot == handle.mig), None)
            if mig is None:
                raise _error(pynvml.NVML_ERROR_INVALID_ARGUMENT)
            if field not in _MIG_FIELDS:
                raise _error(pynvml.NVML_ERROR_NOT_SUPPORTED)
        if field is not None:
            if field in gpu.unsupported:
                raise _error(pynvml.NVML_ERROR_NOT_SUPPORTED)
            if field in gpu.no_permission:
                raise _error(pynvml.NVML_ERROR_NO_PERMISSION)
        return gpu, mig, t

    def _gpu(self, function: str, handle: Any) -> tuple[FakeGpu, float]:
        """For queries NVML does not answer on MIG devices nor, for utilization, on MIG-enabled GPUs."""
        gpu, _, t = self._enter(function, handle)
        assert gpu is not None
        return gpu, t

    # Library and system.

    def nvmlInit(self) -> None:
        self.nvmlInitWithFlags(0)

    def nvmlInitWithFlags(self, flags: int) -> None:
        self.calls["nvmlInit"] = self.calls.get("nvmlInit", 0) + 1
        hang = self.scenario.hang
        if hang and hang.function == "nvmlInit" and self.now() >= hang.at and not self._released.is_set():
            self.hang_entered.set()
            self._released.wait()
        if self.scenario.init_error is not None:
            kind, until = self.scenario.init_error
            if until is None or self.now() < until:
                raise _error(_INIT_ERROR_CODES[kind])
        with self._lock:
            self._refcount += 1

    def nvmlShutdown(self) -> None:
        with self._lock:
            if self._refcount <= 0:
                raise _error(pynvml.NVML_ERROR_UNINITIALIZED)
            self._refcount -= 1

    def nvmlSystemGetDriverVersion(self) -> str:
        self._enter("nvmlSystemGetDriverVersion")
        return self.scenario.driver_version

    def nvmlSystemGetCudaDriverVersion(self) -> int:
        self._enter("nvmlSystemGetCudaDriverVersion")
        return self.scenario.cuda_driver_version

    def nvmlDeviceGetCount(self) -> int:
        self._enter("nvmlDeviceGetCount")
        return len(self.scenario.gpus)

    def nvmlDeviceGetHandleByIndex(self, index: int) -> FakeHandle:
        self._enter("nvmlDeviceGetHandleByIndex")
        if not 0 <= index < len(self._handles):
            raise _error(pynvml.NVML_ERROR_INVALID_ARGUMENT)
        self._enter("nvmlDeviceGetHandleByIndex", self._handles[index])  # a lost GPU has no handle
        return self._handles[index]

    # MIG.

    def nvmlDeviceGetMigMode(self, device: Any) -> list[int]:
        gpu, _ = self._gpu("nvmlDeviceGetMigMode", device)
        if not gpu.model.mig_profiles:
            raise _error(pynvml.NVML_ERROR_NOT_SUPPORTED)
        mode = pynvml.NVML_DEVICE_MIG_ENABLE if gpu.mig is not None else pynvml.NVML_DEVICE_MIG_DISABLE
        return [mode, mode]

    def nvmlDeviceGetMaxMigDeviceCount(self, device: Any) -> int:
        gpu, _ = self._gpu("nvmlDeviceGetMaxMigDeviceCount", device)
        if not gpu.model.mig_profiles:
            raise _error(pynvml.NVML_ERROR_NOT_SUPPORTED)
        return gpu.model.max_mig_devices

    def nvmlDeviceGetMigDeviceHandleByIndex(self, device: Any, index: int) -> FakeHandle:
        gpu, _ = self._gpu("nvmlDeviceGetMigDeviceHandleByIndex", device)
        if gpu.mig is None or not 0 <= index < gpu.model.max_mig_devices:
            raise _error(pynvml.NVML_ERROR_INVALID_ARGUMENT)
        if all(m.slot != index for m in gpu.mig):
            raise _error(pynvml.NVML_ERROR_NOT_FOUND)  # an empty slot
        return FakeHandle(gpu.index, index)

    def nvmlDeviceGetDeviceHandleFromMigDeviceHandle(self, migDevice: Any) -> FakeHandle:
        gpu, mig, _ = self._enter("nvmlDeviceGetDeviceHandleFromMigDeviceHandle", migDevice)
        if gpu is None or mig is None:
            raise _error(pynvml.NVML_ERROR_INVALID_ARGUMENT)
        return self._handles[gpu.index]

    def nvmlDeviceGetGpuInstanceId(self, device: Any) -> int:
        _, mig, _ = self._enter("nvmlDeviceGetGpuInstanceId", device)
        if mig is None:
            raise _error(pynvml.NVML_ERROR_INVALID_ARGUMENT)
        return mig.gpu_instance

    def nvmlDeviceGetComputeInstanceId(self, device: Any) -> int:
        _, mig, _ = self._enter("nvmlDeviceGetComputeInstanceId", device)
        if mig is None:
            raise _error(pynvml.NVML_ERROR_INVALID_ARGUMENT)
        return mig.compute_instance

    # Events.

    def nvmlEventSetCreate(self) -> Any:
        self._enter("nvmlEventSetCreate")
        return self._events.create(self.now())

    def nvmlDeviceRegisterEvents(self, handle: Any, eventTypes: int, eventSet: Any) -> None:
        gpu, _ = self._gpu("nvmlDeviceRegisterEvents", handle)
        self._events.register(eventSet, gpu.index, eventTypes)

    def nvmlEventSetWait(self, eventSet: Any, timeoutms: int) -> Any:
        self._enter("nvmlEventSetWait")
        return self._events.wait(eventSet, timeoutms, self.now, lambda gpu: self._handles[gpu])

    def nvmlEventSetFree(self, eventSet: Any) -> None:
        self._enter("nvmlEventSetFree")
        self._events.free(eventSet)

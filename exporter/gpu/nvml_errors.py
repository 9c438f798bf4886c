"""NVML error classification and the per-device memory of fields a GPU does not support.

NVML reports every failure as `NVMLError` with a numeric `value`. Instances define `__eq__` without
`__hash__`, so they are unhashable: everything here keys on the numeric code, never the exception.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from types import ModuleType
from typing import Any, TypeVar

T = TypeVar("T")

# Codes whose meaning is "this GPU or driver cannot give you that field": omit it and stop asking.
FIELD_LEVEL = frozenset(
    {3, 4, 13, 25}
)  # NOT_SUPPORTED, NO_PERMISSION, FUNCTION_NOT_FOUND, ARG_VERSION_MISMATCH
# The GPU itself is gone (fell off the bus): the device is down, the rest of the node is not.
GPU_LOST = 15
# NVML as a whole is unusable: shut it down and initialise again later.
NVML_DOWN = frozenset({1, 9, 12, 18})  # UNINITIALIZED, DRIVER_NOT_LOADED, LIBRARY_NOT_FOUND, LIB_RM_MISMATCH
NOT_FOUND = 6
TIMEOUT = 10


def error_code(exc: BaseException) -> int | None:
    value = getattr(exc, "value", None)
    return value if isinstance(value, int) else None


def error_kinds(nvml: Any) -> dict[int, str]:
    """Code -> snake_case kind from the module's own NVML_ERROR_* constants (`gpu_is_lost`, ...)."""
    kinds: dict[int, str] = {}
    for name in dir(nvml):
        if name.startswith("NVML_ERROR_"):
            code = getattr(nvml, name)
            if isinstance(code, int):
                kinds.setdefault(code, name.removeprefix("NVML_ERROR_").lower())
    return kinds


class ErrorCounter:
    """Counts NVML errors by kind; shared by the worker and the event thread."""

    def __init__(self, nvml: ModuleType | Any) -> None:
        self._kinds = error_kinds(nvml)
        self._lock = threading.Lock()
        self._counts: dict[str, int] = {}

    def kind(self, exc: BaseException) -> str:
        return self.code_kind(error_code(exc))

    def code_kind(self, code: int | None) -> str:
        return self._kinds.get(code, f"code_{code}") if code is not None else "unknown"

    def count(self, exc: BaseException) -> str:
        return self.count_code(error_code(exc))

    def count_code(self, code: int | None) -> str:
        """Count an error NVML returned as a code (a field value's own nvmlReturn) rather than raised."""
        kind = self.code_kind(code)
        with self._lock:
            self._counts[kind] = self._counts.get(kind, 0) + 1
        return kind

    def snapshot(self) -> dict[str, int]:
        with self._lock:
            return dict(self._counts)


class DeviceLost(Exception):
    """The device answered GPU_IS_LOST."""


class NvmlDown(Exception):
    """NVML as a whole failed (driver unloaded, uninitialised, version mismatch)."""


class _NoData:
    """Returned for "no new samples": the field works, there is just nothing since last time."""


NO_DATA = _NoData()


class FieldReader:
    """Reads optional fields, remembering per device which ones are unavailable.

    An unsupported field is asked once per device, not on every scrape. Lifecycle errors are
    raised as DeviceLost / NvmlDown; any other error omits the field for this scrape only and
    marks the read incomplete.
    """

    def __init__(self, nvml: Any, errors: ErrorCounter) -> None:
        self._nvml = nvml
        self._errors = errors
        self._unavailable: dict[str, set[str]] = {}
        self._functions: dict[str, Callable[..., Any] | None] = {}
        self.incomplete = False

    def unavailable(self, device_key: str) -> frozenset[str]:
        return frozenset(self._unavailable.get(device_key, ()))

    def read(
        self, device_key: str, field: str, function: str, *args: Any, no_data: tuple[int, ...] = ()
    ) -> Any:
        """Call `nvml.<function>(*args)`; None when `field` is (or just proved) unavailable.

        Codes in `no_data` mean "nothing new" (NOT_FOUND from the sample buffers) and return NO_DATA.
        """
        missing = self._unavailable.get(device_key)
        if missing is not None and field in missing:
            return None
        call = self._functions.get(function)
        if call is None:
            call = self._functions[function] = getattr(self._nvml, function, None)
        if call is None:  # bindings older than the call: as good as FUNCTION_NOT_FOUND
            self._unavailable.setdefault(device_key, set()).add(field)
            return None
        try:
            return call(*args)
        except self._nvml.NVMLError as exc:
            code = error_code(exc)
            if code in no_data:
                return NO_DATA
            self._failed(device_key, field, code)
            return None

    def _failed(self, device_key: str, field: str, code: int | None) -> None:
        """Count an error and act on its class: remember an unavailable field, or raise a lifecycle error."""
        kind = self._errors.count_code(code)
        if code in FIELD_LEVEL:
            self._unavailable.setdefault(device_key, set()).add(field)
        elif code == GPU_LOST:
            raise DeviceLost(kind) from None
        elif code in NVML_DOWN:
            raise NvmlDown(kind) from None
        else:
            self.incomplete = True

    def values(self, device_key: str, handle: Any, fields: Sequence[tuple[str, int]]) -> dict[str, Any]:
        """Read NVML field ids in one `nvmlDeviceGetFieldValues` call: {field: c_nvmlFieldValue_t}.

        The call succeeds when any entry was filled, so each entry's own `nvmlReturn` is judged like a
        raised error: an unsupported field is remembered and left out of later batches; when every
        field is unavailable the call is not made at all.
        """
        missing = self._unavailable.get(device_key, ())
        wanted = [(field, field_id) for field, field_id in fields if field not in missing]
        if not wanted:
            return {}
        entries = self.read(
            device_key, "field_values", "nvmlDeviceGetFieldValues", handle, [i for _, i in wanted]
        )
        if entries is None:
            return {}
        found: dict[str, Any] = {}
        for (field, _), entry in zip(wanted, entries, strict=True):
            code = int(entry.nvmlReturn)
            if code == 0:  # NVML_SUCCESS
                found[field] = entry
            else:
                self._failed(device_key, field, code)
        return found

    def first(self, device_key: str, attempts: tuple[tuple[str, str, tuple[Any, ...]], ...]) -> Any:
        """The first available of several ways to read one value: (field, function, args) in order."""
        for field, function, args in attempts:
            if field in self._unavailable.get(device_key, ()):
                continue
            result = self.read(device_key, field, function, *args)
            if field not in self._unavailable.get(device_key, ()):
                return result  # a value, or None after a transient error: no fallback for that
        return None

"""A clock tests move by hand; the fake NVML wakes its event waiters when it moves."""

from __future__ import annotations

import threading
from collections.abc import Callable


class ManualClock:
    """Monotonic seconds that change only through `advance`; callable like `time.monotonic`."""

    def __init__(self, start: float = 1000.0) -> None:
        self._now = start
        self._lock = threading.Lock()
        self._listeners: list[Callable[[], None]] = []

    def __call__(self) -> float:
        with self._lock:
            return self._now

    def advance(self, seconds: float) -> None:
        with self._lock:
            self._now += seconds
            listeners = list(self._listeners)
        for listener in listeners:
            listener()

    def subscribe(self, listener: Callable[[], None]) -> None:
        with self._lock:
            self._listeners.append(listener)

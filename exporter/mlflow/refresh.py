"""Scrape-driven background refresh: at most one in flight, at most one started per interval.

Prometheus drives the schedule (no timer of our own): a scrape that finds the data due starts a refresh
on a thread and waits for it only up to a short bound, so a slow upstream never holds a scrape longer.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

log = logging.getLogger("exporter.mlflow.collector")


class BackgroundRefresh:
    def __init__(
        self,
        work: Callable[[], None],
        interval: float,
        wait: float,
        clock: Callable[[], float],
        name: str = "refresh",
    ) -> None:
        self._work = work
        self._interval = interval
        self._wait = wait
        self._clock = clock
        self._name = name
        self._lock = threading.Lock()
        self._idle = threading.Event()
        self._idle.set()
        self._started_at: float | None = None
        self._thread: threading.Thread | None = None
        self._closed = False

    def trigger(self) -> bool:
        """Start a refresh when one is due and none is in flight, then wait for it up to the bound.

        Returns whether this call started one."""
        with self._lock:
            due = self._started_at is None or self._clock() - self._started_at >= self._interval
            if self._closed or not due or not self._idle.is_set():
                return False
            self._started_at = self._clock()
            self._idle.clear()
            self._thread = threading.Thread(target=self._run, name=self._name, daemon=True)
            self._thread.start()
        self._idle.wait(self._wait)
        return True

    def _run(self) -> None:
        try:
            self._work()
        except Exception:  # the work reports its own failures; this is the last line against a dead thread
            log.exception("%s failed unexpectedly", self._name)
        finally:
            self._idle.set()

    def wait_idle(self, timeout: float) -> bool:
        """Wait until no refresh is in flight; True when idle."""
        return self._idle.wait(timeout)

    def in_flight_for(self) -> float:
        """Seconds the current refresh has been running; 0 when none is."""
        with self._lock:
            if self._idle.is_set() or self._started_at is None:
                return 0.0
            return self._clock() - self._started_at

    def close(self, timeout: float = 2.0) -> None:
        with self._lock:
            self._closed = True
            thread = self._thread
        if thread is not None:
            thread.join(timeout)

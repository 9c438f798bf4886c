"""One thread that makes every NVML call, so calls are serialized and a hung one cannot block a scrape.

Overlapping NVML calls from concurrent scrapes have crashed drivers, and a driver call can hang in
D-state. Every call therefore runs on this single daemon thread (that is the lock); callers wait
for a bounded time and give up, and while a call is stuck new callers fail at once instead of
piling up behind it.
"""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future
from concurrent.futures import TimeoutError as FutureTimeout
from typing import Any, TypeVar

T = TypeVar("T")


class WorkerBusy(Exception):
    """The worker did not finish in time, or is still stuck in an earlier call."""


class SerialWorker:
    """Runs submitted jobs one at a time on a dedicated daemon thread."""

    def __init__(self, name: str, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._jobs: queue.SimpleQueue[tuple[Callable[[], Any], Future[Any]] | None] = queue.SimpleQueue()
        self._lock = threading.Lock()
        self._busy_since: float | None = None
        self._shared: dict[str, tuple[Future[Any], float]] = {}
        self._thread = threading.Thread(target=self._loop, name=name, daemon=True)
        self._thread.start()

    def _loop(self) -> None:
        while True:
            item = self._jobs.get()
            if item is None:
                return
            job, future = item
            if not future.set_running_or_notify_cancel():
                continue
            with self._lock:
                self._busy_since = self._clock()
            try:
                future.set_result(job())
            except BaseException as exc:  # handed to the caller, who decides
                future.set_exception(exc)
            finally:
                with self._lock:
                    self._busy_since = None

    def stuck_for(self) -> float:
        """Seconds the current job has been running (0 when idle)."""
        with self._lock:
            since = self._busy_since
        return 0.0 if since is None else self._clock() - since

    def call(self, job: Callable[[], T], timeout: float, share: str | None = None) -> T:
        """Run `job` on the worker and wait at most `timeout` seconds.

        With `share`, a caller arriving while a job with the same key is in flight waits for that
        job's result instead of queueing another (overlapping scrapes read NVML once). Raises
        WorkerBusy on timeout, and at once when the worker has been stuck for `timeout` already.
        """
        stuck = self.stuck_for()
        if stuck >= timeout:
            raise WorkerBusy(f"NVML call hung for {stuck:.0f} s")
        future, started = self.submit(job, share)
        remaining = max(0.0, started + timeout - self._clock())
        try:
            return future.result(timeout=remaining)
        except FutureTimeout:
            raise WorkerBusy(f"NVML call did not return within {timeout:g} s") from None

    def submit(self, job: Callable[[], T], share: str | None = None) -> tuple[Future[T], float]:
        """Queue `job` (or join the one in flight under the same `share` key) without waiting."""
        with self._lock:
            shared = self._shared.get(share) if share else None
            if shared is not None and not shared[0].done():
                return shared
            future: Future[T] = Future()
            started = self._clock()
            if share:
                self._shared[share] = (future, started)
            self._jobs.put((job, future))
            return future, started

    def stop(self) -> None:
        """Let the thread exit after the queued jobs (a stuck one keeps it, as a daemon, until exit)."""
        self._jobs.put(None)

    def join(self, timeout: float) -> bool:
        self._thread.join(timeout)
        return not self._thread.is_alive()

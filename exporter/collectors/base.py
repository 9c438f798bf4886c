"""The collector contract and the isolation wrapper that keeps one failing collector from failing a scrape."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

from prometheus_client.core import Metric
from prometheus_client.registry import Collector as PromCollector

from exporter.catalogue import core
from exporter.catalogue.families import FamilySet

log = logging.getLogger("exporter.collectors")


@dataclass(frozen=True)
class Health:
    """What `/health` reports for one collector."""

    ok: bool
    detail: str = ""


class Collector(Protocol):
    """One upstream's collector. `collect` adds samples and returns False on a partial failure;
    raising means the whole collection failed and its partial output is dropped."""

    name: str

    def collect(self, out: FamilySet) -> bool: ...

    def health(self) -> Health: ...

    def close(self) -> None: ...


@runtime_checkable
class Preparing(Protocol):
    """Optional: `prepare()` runs for every collector before any collects, to start slow I/O early."""

    def prepare(self) -> None: ...


@dataclass
class _LastRun:
    success: bool = False
    finished_at: float = 0.0
    error: str = ""


class IsolatingCollector(PromCollector):
    """Runs every enabled collector on each scrape, each isolated, plus the exporter's own series."""

    def __init__(
        self,
        collectors: Sequence[Collector],
        build_labels: dict[str, str],
        clock: Callable[[], float] = time.monotonic,
        wall_clock: Callable[[], float] = time.time,
    ) -> None:
        self.collectors = list(collectors)
        self._build_labels = build_labels
        self._clock = clock
        self._wall_clock = wall_clock
        self._last: dict[str, _LastRun] = {c.name: _LastRun() for c in self.collectors}
        self._lock = threading.Lock()

    def describe(self) -> list[Metric]:
        # Nothing to describe up front: keeps registration from running a collection.
        return []

    def collect(self) -> Iterator[Metric]:
        for families in self.scrape():
            yield from families

    def render(self) -> bytes:
        """One scrape straight to the text format (the HTTP path; `collect` serves registries)."""
        lines: list[str] = []
        for families in self.scrape():
            families.render_into(lines)
        lines.append("")
        return "\n".join(lines).encode()

    def scrape(self) -> list[FamilySet]:
        """Run every collector once: the exporter's own series first, then each collector's output."""
        own = FamilySet()
        own.add(core.BUILD_INFO, 1, **self._build_labels)
        outputs = [own]
        for collector in self.collectors:
            if isinstance(collector, Preparing):
                try:
                    collector.prepare()
                except Exception as exc:  # its collect() will fail or retry; the scrape goes on
                    log.warning("collector %s failed to prepare: %s", collector.name, exc)
        for collector in self.collectors:
            families, success, elapsed = self._run_one(collector)
            outputs.append(families)
            own.add(core.COLLECTOR_SUCCESS, 1 if success else 0, collector=collector.name)
            own.add(core.COLLECTOR_DURATION, elapsed, collector=collector.name)
        return outputs

    def _run_one(self, collector: Collector) -> tuple[FamilySet, bool, float]:
        started = self._clock()
        families = FamilySet()
        error = ""
        try:
            success = bool(collector.collect(families))
        except Exception as exc:  # isolation is the point: any failure becomes a metric
            log.warning(
                "collector %s failed: %s", collector.name, exc, exc_info=log.isEnabledFor(logging.DEBUG)
            )
            families, success, error = FamilySet(), False, f"{type(exc).__name__}: {exc}"
        elapsed = self._clock() - started
        with self._lock:
            self._last[collector.name] = _LastRun(success, self._wall_clock(), error)
        return families, success, elapsed

    def health(self) -> dict[str, dict[str, object]]:
        """Per-collector health: the collector's own verdict plus the outcome of its last scrape."""
        report: dict[str, dict[str, object]] = {}
        with self._lock:
            last = dict(self._last)
        for collector in self.collectors:
            verdict = collector.health()
            run = last[collector.name]
            report[collector.name] = {
                "ok": verdict.ok,
                "detail": verdict.detail,
                "last_scrape_success": run.success,
                "last_scrape_at": run.finished_at or None,
                "last_error": run.error,
            }
        return report

    def close(self) -> None:
        for collector in self.collectors:
            try:
                collector.close()
            except Exception as exc:
                log.warning("closing collector %s failed: %s", collector.name, exc)

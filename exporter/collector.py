"""The collector contract and the isolation wrapper that keeps one failing collector from failing a scrape."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Protocol, TypeVar, runtime_checkable

from exporter.catalogue import core
from exporter.catalogue.families import FamilySet
from exporter.textsafe import safe_message

log = logging.getLogger("exporter.collectors")
T = TypeVar("T")


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


class IsolatingCollector:
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
        self._sanitized: dict[str, int] = {c.name: 0 for c in self.collectors}
        self._lock = threading.Lock()
        # Adders of the exporter's own series beyond the collectors' (the HTTP front's counters).
        self.own_series: list[Callable[[FamilySet], None]] = []

    def render(self) -> bytes:
        """One scrape in the text format: exactly what `/metrics` serves.

        Each collector's families are rendered and encoded inside its isolation: a value that cannot be
        rendered fails that collector's series only.
        """
        return b"".join(self._scrape(_encoded, b""))

    def scrape(self) -> list[FamilySet]:
        """Run every collector once and return the sets unrendered: the exporter's own series first."""
        return self._scrape(_unrendered, FamilySet())

    def _scrape(self, convert: Callable[[FamilySet], tuple[T, int]], failed: T) -> list[T]:
        """Run every collector once, each converted by `convert` (which returns the output and how many
        label values it made safe) inside its isolation; `failed` stands in for a failed collector's output.
        The exporter's own series come first, built last so they report every collector's outcome."""
        for collector in self.collectors:
            if isinstance(collector, Preparing):
                try:
                    collector.prepare()
                except Exception as exc:  # its collect() will fail or retry; the scrape goes on
                    log.warning("collector %s failed to prepare: %s", collector.name, safe_message(exc))
        own = FamilySet()
        own.add(core.BUILD_INFO, 1, **self._build_labels)
        outputs = []
        for collector in self.collectors:
            output, success, elapsed, sanitized = self._run_one(collector, convert, failed)
            outputs.append(output)
            own.add(core.COLLECTOR_SUCCESS, 1 if success else 0, collector=collector.name)
            own.add(core.COLLECTOR_DURATION, elapsed, collector=collector.name)
            own.add(core.LABEL_VALUES_SANITIZED, sanitized, collector=collector.name)
        for add in self.own_series:
            add(own)
        return [convert(own)[0], *outputs]

    def _run_one(
        self, collector: Collector, convert: Callable[[FamilySet], tuple[T, int]], failed: T
    ) -> tuple[T, bool, float, int]:
        """(output, success, seconds taken, label values made safe so far) of one collector."""
        started = self._clock()
        error, stage = "", "collect"
        try:
            families = FamilySet()
            success = bool(collector.collect(families))
            stage = "render"
            output, changed = convert(families)
        except Exception as exc:  # isolation is the point: any failure becomes a metric
            log.warning(
                "collector %s failed to %s: %s",
                collector.name,
                stage,
                safe_message(exc),
                exc_info=log.isEnabledFor(logging.DEBUG),
            )
            output, success, changed = failed, False, 0
            error = safe_message(f"{type(exc).__name__}: {exc}")
        elapsed = self._clock() - started
        with self._lock:
            self._last[collector.name] = _LastRun(success, self._wall_clock(), error)
            sanitized = self._sanitized[collector.name] = self._sanitized[collector.name] + changed
        return output, success, elapsed, sanitized

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
                log.warning("closing collector %s failed: %s", collector.name, safe_message(exc))


def _encoded(families: FamilySet) -> tuple[bytes, int]:
    lines: list[str] = []
    changed = families.render_into(lines)
    lines.append("")
    return ("\n".join(lines) if len(lines) > 1 else "").encode(), changed


def _unrendered(families: FamilySet) -> tuple[FamilySet, int]:
    return families, 0

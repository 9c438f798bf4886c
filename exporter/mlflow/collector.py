"""MLflow collector: serves the last good snapshot of each section; scrapes trigger background refreshes.

Sample output:

    mlflow_up 1
    mlflow_snapshot_age_seconds{section="registry"} 12.4
    mlflow_model_alias_version{alias="production",model="fraud-detector"} 2
    mlflow_training_runs{experiment="train-fraud",status="FAILED",window="1d"} 1
    mlflow_model_drift{feature="age",metric="psi",model="fraud-detector",version="2"} 0.3
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from exporter.catalogue.families import FamilySet
from exporter.collector import Health
from exporter.mlflow import catalogue as m
from exporter.mlflow.http import DEFAULT_MAX_BODY_BYTES, MlflowError, Tls
from exporter.mlflow.reads import (
    MonitoringQuery,
    TrainingQuery,
    read_baselines,
    read_monitoring,
    read_training,
)
from exporter.mlflow.refresh import BackgroundRefresh
from exporter.mlflow.rows import (
    DROP_KINDS,
    MonitoringKeys,
    RegistryCaps,
    Rows,
    baseline_rows,
    baseline_run_ids,
    monitoring_rows,
    registry_rows,
    training_rows,
)
from exporter.mlflow.source import MlflowSource, Registry, Run
from exporter.textsafe import safe_message

log = logging.getLogger("exporter.mlflow.collector")


@dataclass(frozen=True)
class MlflowSettings:
    tracking_uri: str
    refresh_interval: float
    scrape_wait: float
    request_timeout: float
    page_size: int
    max_pages: int
    tls: Tls
    caps: RegistryCaps
    baseline_metrics: tuple[str, ...]
    training: TrainingQuery
    windows: tuple[tuple[str, float], ...]
    monitoring: MonitoringQuery
    monitoring_keys: MonitoringKeys
    max_body_bytes: int = DEFAULT_MAX_BODY_BYTES

    @property
    def monitoring_enabled(self) -> bool:
        return bool(self.monitoring_keys.drift_metrics or self.monitoring_keys.quality_metrics)


@dataclass(frozen=True)
class Section:
    rows: Rows
    read_at: float  # epoch seconds
    data: Any = None  # the registry keeps what it read: the baseline read needs it
    # The section's fixed samples as families, built once per refresh on the refresh thread and rendered
    # once: thousands of registry series then cost a scrape almost nothing.
    families: FamilySet = field(default_factory=FamilySet)


def _with_families(section: Section) -> Section:
    families = FamilySet()
    for spec, value, labels in section.rows.samples:
        families.add(spec, value, **labels)
    return replace(section, families=families)


@dataclass(frozen=True)
class State:
    sections: Mapping[str, Section] = field(default_factory=dict)
    up: bool = False
    problems: tuple[str, ...] = ("not read yet",)
    duration: float | None = None
    dropped: Mapping[str, int] = field(default_factory=lambda: dict.fromkeys(DROP_KINDS, 0))


Reader = Callable[[float, Mapping[str, Section]], tuple[Section | None, list[str]]]
Chain = list[tuple[str, Reader]]


@dataclass(frozen=True)
class Outcome:
    """What one section's read gave: new data (None: nothing new), one-line notes, or the error."""

    name: str
    section: Section | None = None
    notes: list[str] = field(default_factory=list)
    error: str | None = None


class MlflowCollector:
    name = "mlflow"

    def __init__(
        self,
        settings: MlflowSettings,
        source: MlflowSource,
        clock: Callable[[], float] = time.monotonic,
        wall_clock: Callable[[], float] = time.time,
    ) -> None:
        self.settings = settings
        self.source = source
        self._clock = clock
        self._wall_clock = wall_clock
        self._state = State()
        self._baseline_cache: dict[str, Run] = {}
        # Chains run concurrently, so a hung server shows after one request timeout, not one per section;
        # within a chain a section reads after the one it needs (the baseline needs this refresh's registry).
        registry: Chain = [("registry", self._read_registry)]
        if settings.baseline_metrics:
            registry.append(("baseline", self._read_baseline))
        chains = [registry]
        if settings.training.enabled:
            chains.append([("training", self._read_training)])
        if settings.monitoring_enabled:
            chains.append([("monitoring", self._read_monitoring)])
        self._chains = chains
        self.refresh = BackgroundRefresh(
            self._refresh, settings.refresh_interval, settings.scrape_wait, clock, "mlflow-refresh"
        )

    # Readers: each returns its new section (None: nothing to read yet) and one-line problems.
    def _read_registry(self, now: float, _: Mapping[str, Section]) -> tuple[Section | None, list[str]]:
        registry = self.source.registry()
        return Section(registry_rows(registry, self.settings.caps), now, registry), []

    def _read_baseline(self, now: float, sections: Mapping[str, Section]) -> tuple[Section | None, list[str]]:
        if "registry" not in sections:
            return None, []
        registry: Registry = sections["registry"].data
        run_ids = baseline_run_ids(registry, self.settings.caps)
        runs = read_baselines(self.source, run_ids, self._baseline_cache)
        rows = baseline_rows(registry, runs, self.settings.baseline_metrics, self.settings.caps)
        return Section(rows, now), []

    def _read_training(self, now: float, _: Mapping[str, Section]) -> tuple[Section | None, list[str]]:
        training = read_training(self.source, self.settings.training, now)
        rows = training_rows(training, self.settings.windows, self.settings.caps.max_label_length)
        return Section(rows, now), [f"training experiment {name!r} not found" for name in training.missing]

    def _read_monitoring(self, now: float, _: Mapping[str, Section]) -> tuple[Section | None, list[str]]:
        monitoring = read_monitoring(self.source, self.settings.monitoring)
        rows = monitoring_rows(monitoring, self.settings.monitoring_keys)
        return Section(rows, now), [
            f"monitoring experiment {name!r} not found" for name in monitoring.missing
        ]

    def _read_chain(self, chain: Chain, now: float, previous: Mapping[str, Section]) -> list[Outcome]:
        """Each section of the chain in order; after a failure the rest is not read (its last good data
        stays served)."""
        sections = dict(previous)
        out: list[Outcome] = []
        for name, read in chain:
            try:
                section, notes = read(now, sections)
                if section is not None:
                    sections[name] = section = _with_families(section)
            except MlflowError as exc:
                out.append(Outcome(name, error=f"{name}: {exc}"))
                break
            except Exception as exc:  # a bug must show as a failed section, not as data that stops ageing
                log.exception("mlflow: reading %s failed unexpectedly", name)
                error = f"{type(exc).__name__}: {safe_message(exc)}"
                out.append(Outcome(name, error=f"{name}: internal error: {error}"))
                break
            out.append(Outcome(name, section, notes))
        return out

    def _read_all(self, now: float, previous: Mapping[str, Section]) -> list[Outcome]:
        """Every chain on its own daemon thread (a request still hanging never holds up the exit)."""
        results: list[list[Outcome]] = [[] for _ in self._chains]

        def run(index: int) -> None:
            results[index] = self._read_chain(self._chains[index], now, previous)

        threads = [
            threading.Thread(target=run, args=(index,), name=f"mlflow-read-{chain[0][0]}", daemon=True)
            for index, chain in enumerate(self._chains)
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        return [outcome for chain in results for outcome in chain]

    def _refresh(self) -> None:
        started, now = self._clock(), self._wall_clock()
        previous = self._state
        sections = dict(previous.sections)
        dropped = dict(previous.dropped)
        problems: list[str] = []
        failed = False
        for outcome in self._read_all(now, previous.sections):
            if outcome.error is not None:
                failed = True
                problems.append(outcome.error)
                continue
            problems += outcome.notes
            if outcome.section is not None:
                sections[outcome.name] = outcome.section
                for what, count in outcome.section.rows.dropped.items():
                    dropped[what] = dropped.get(what, 0) + count
        state = State(sections, not failed, tuple(problems), self._clock() - started, dropped)
        if state.problems != previous.problems:
            if state.problems:
                log.warning("mlflow: %s", "; ".join(state.problems))
            else:
                log.info("mlflow: every section read again")
        self._state = state

    def collect(self, out: FamilySet) -> bool:
        self.refresh.trigger()
        state = self._state
        now = self._wall_clock()
        out.add(m.UP, 1 if state.up else 0)
        if state.duration is not None:
            out.add(m.REFRESH_DURATION, state.duration)
        for what, count in state.dropped.items():
            out.add(m.DROPPED, count, what=what)
        for stats in self.source.http.stats.snapshot():
            out.add(m.REQUESTS, stats.requests, endpoint=stats.endpoint)
            for kind, count in stats.errors.items():
                out.add(m.REQUEST_ERRORS, count, endpoint=stats.endpoint, kind=kind)
            out.add_histogram(m.REQUEST_DURATION, stats.buckets, stats.duration_sum, endpoint=stats.endpoint)
        for name, section in state.sections.items():
            out.add(m.SNAPSHOT_AGE, max(0.0, now - section.read_at), section=name)
            out.include(section.families)
            for spec, stamp, labels in section.rows.ages:
                out.add(spec, max(0.0, now - stamp), **labels)
        return state.up and not state.problems

    def health(self) -> Health:
        """Unhealthy only when a refresh is wedged; MLflow being down is data (mlflow_up), not our failure."""
        state = self._state
        stuck = self.refresh.in_flight_for() > max(10 * self.settings.refresh_interval, 300.0)
        verdict = "up" if state.up else "down"
        detail = f"mlflow {verdict}" + (f": {state.problems[0]}" if state.problems else "")
        if stuck:
            detail = f"refresh in flight for {self.refresh.in_flight_for():.0f}s; {detail}"
        return Health(not stuck, detail)

    def close(self) -> None:
        self.refresh.close()
        self.source.http.close()

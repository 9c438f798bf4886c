"""The reads one refresh makes, section by section: registry, offline baselines, training and monitoring runs.

Each read returns plain data or raises MlflowError; the refresher keeps the last good result per section.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from exporter.mlflow.source import TERMINAL_STATUSES, Experiment, MlflowSource, Run, quote


@dataclass(frozen=True)
class TrainingQuery:
    experiments: tuple[str, ...]  # names
    experiment_filter: str  # experiments/search filter, "" for none
    lookback: float  # seconds: the largest window

    @property
    def enabled(self) -> bool:
        return bool(self.experiments or self.experiment_filter)


@dataclass(frozen=True)
class MonitoringQuery:
    experiments: tuple[str, ...]  # names; with no names and no filter, every active experiment
    experiment_filter: str
    model_tag: str
    max_runs: int


@dataclass(frozen=True)
class Training:
    experiments: tuple[Experiment, ...]
    missing: tuple[str, ...]  # configured names the server does not know
    # Runs that ended within the lookback, plus RUNNING/SCHEDULED runs that started within it.
    runs: tuple[Run, ...]
    last_success: Mapping[str, Run]  # experiment id -> its most recent FINISHED run, whenever it was
    read_at: float  # epoch seconds


@dataclass(frozen=True)
class Monitoring:
    runs: tuple[Run, ...]  # newest first, at most max_runs
    missing: tuple[str, ...]


def millis(seconds: float) -> int:
    return int(seconds * 1000)


def read_baselines(source: MlflowSource, run_ids: Sequence[str], cache: dict[str, Run]) -> dict[str, Run]:
    """The runs behind aliased versions; finished runs are cached, since their metrics no longer change."""
    runs: dict[str, Run] = {}
    for run_id in sorted(set(run_ids)):
        run = cache.get(run_id) or source.run(run_id)
        if run is None:
            continue
        runs[run_id] = run
        if run.status in TERMINAL_STATUSES:
            cache[run_id] = run
    for stale in set(cache) - set(runs):
        del cache[stale]
    return runs


def resolve_experiments(
    source: MlflowSource, names: Sequence[str], filter_string: str
) -> tuple[list[Experiment], list[str]]:
    found: dict[str, Experiment] = {}
    missing: list[str] = []
    for name in names:
        experiment = source.experiment_by_name(name)
        if experiment is None:
            missing.append(name)
        else:
            found[experiment.id] = experiment
    if filter_string:
        for experiment in source.search_experiments(filter_string):
            found[experiment.id] = experiment
    return sorted(found.values(), key=lambda e: e.name), missing


def read_training(source: MlflowSource, query: TrainingQuery, now: float) -> Training:
    experiments, missing = resolve_experiments(source, query.experiments, query.experiment_filter)
    ids = [e.id for e in experiments]
    since = millis(now - query.lookback)
    # runs/search has no OR (nor IN for status): ended runs by end_time, then in-flight ones (no end_time)
    # by excluding the terminal statuses.
    runs = source.search_runs(ids, f"attributes.end_time >= {since}")
    in_flight = " AND ".join(f"attributes.status != {quote(status)}" for status in TERMINAL_STATUSES)
    runs += source.search_runs(ids, f"{in_flight} AND attributes.start_time >= {since}")
    last_success: dict[str, Run] = {}
    for experiment_id in ids:
        latest = source.search_runs(
            [experiment_id], "attributes.status = 'FINISHED'", order_by=["attributes.end_time DESC"], limit=1
        )
        if latest:
            last_success[experiment_id] = latest[0]
    return Training(tuple(experiments), tuple(missing), tuple(runs), last_success, now)


def read_monitoring(source: MlflowSource, query: MonitoringQuery) -> Monitoring:
    if query.experiments or query.experiment_filter:
        experiments, missing = resolve_experiments(source, query.experiments, query.experiment_filter)
    else:
        experiments, missing = source.search_experiments(), []
    tagged = f"tags.`{query.model_tag}` LIKE {quote('%')}"
    runs = source.search_runs(
        [e.id for e in experiments], tagged, order_by=["attributes.start_time DESC"], limit=query.max_runs
    )
    return Monitoring(tuple(runs), tuple(missing))

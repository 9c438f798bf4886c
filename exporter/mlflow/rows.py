"""Turn what was read from MLflow into samples, once per refresh: caps, windows, latest values, clean labels.

A `Row` is (spec, value, labels). Rows whose value depends on the scrape time (ages) carry an epoch
timestamp instead and are finished at scrape time.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from functools import lru_cache

from exporter.catalogue.spec import MetricSpec
from exporter.mlflow import catalogue as m
from exporter.mlflow.reads import Monitoring, Training
from exporter.mlflow.source import (
    RUN_STATUSES,
    TERMINAL_STATUSES,
    ModelVersion,
    Registry,
    Run,
)

Row = tuple[MetricSpec, float, dict[str, str]]
DROP_KINDS = ("models", "versions", "monitored_series")


@dataclass(frozen=True)
class Rows:
    samples: tuple[Row, ...] = ()
    ages: tuple[Row, ...] = ()  # value is an epoch timestamp; exported as (scrape time - value)
    dropped: Mapping[str, int] = field(default_factory=dict)


@lru_cache(maxsize=65536)
def label_value(value: str, max_length: int = 128) -> str:
    """Printable and at most `max_length` long; a changed value ends in `~` + 8 hex digits of its hash."""
    clean = "".join(ch if ch.isprintable() else "_" for ch in value)
    if clean == value and len(value) <= max_length:
        return value
    import hashlib  # here: importing it loads OpenSSL's libcrypto (3.5 MiB), which most starts never need

    digest = hashlib.sha256(value.encode("utf-8", "surrogatepass")).hexdigest()[:8]
    return clean[: max(0, max_length - 9)] + "~" + digest


@dataclass(frozen=True)
class RegistryCaps:
    max_models: int
    max_versions_per_model: int
    max_label_length: int


def kept_models(registry: Registry, caps: RegistryCaps) -> list[str]:
    """Model names within the cap, in name order (stable across refreshes)."""
    return sorted(model.name for model in registry.models)[: caps.max_models]


def registry_rows(registry: Registry, caps: RegistryCaps) -> Rows:
    def lv(text: str) -> str:
        return label_value(text, caps.max_label_length)

    kept = set(kept_models(registry, caps))
    versions: dict[str, list[ModelVersion]] = {}
    for version in registry.versions:
        versions.setdefault(version.model, []).append(version)
    samples: list[Row] = [(m.REGISTERED_MODELS, len(registry.models), {})]
    ages: list[Row] = []
    dropped = Counter({"models": len(registry.models) - len(kept)})
    for model in sorted(registry.models, key=lambda item: item.name):
        if model.name not in kept:
            continue
        name = lv(model.name)
        own = sorted(versions.get(model.name, []), key=lambda v: v.version, reverse=True)
        statuses = Counter(v.status for v in own)
        # READY always (a model without versions shows 0); other statuses only while some version has them,
        # which keeps a large registry's series count down without hiding anything alertable.
        for status in sorted({"READY", *statuses}):
            samples.append((m.MODEL_VERSIONS, statuses[status], {"model": name, "status": lv(status)}))
        for version in own[: caps.max_versions_per_model]:
            labels = {"model": name, "version": str(version.version), "status": lv(version.status)}
            samples.append((m.MODEL_VERSION_INFO, 1, {**labels, "stage": lv(version.stage)}))
        dropped["versions"] += max(0, len(own) - caps.max_versions_per_model)
        by_number = {v.version: v for v in own}
        for alias, number in model.aliases:
            labels = {"model": name, "alias": lv(alias)}
            samples.append((m.ALIAS_VERSION, number, labels))
            if number in by_number:
                ages.append((m.ALIAS_VERSION_AGE, by_number[number].created, labels))
    return Rows(tuple(samples), tuple(ages), dict(dropped))


def baseline_run_ids(registry: Registry, caps: RegistryCaps) -> list[str]:
    """Training runs behind every alias of the kept models."""
    kept = set(kept_models(registry, caps))
    runs = {(v.model, v.version): v.run_id for v in registry.versions if v.model in kept and v.run_id}
    wanted = {(model.name, number) for model in registry.models for _, number in model.aliases}
    return sorted({runs[key] for key in wanted if key in runs})


def baseline_rows(
    registry: Registry, runs: Mapping[str, Run], metrics: Sequence[str], caps: RegistryCaps
) -> Rows:
    kept = set(kept_models(registry, caps))
    run_of = {(v.model, v.version): v.run_id for v in registry.versions}
    samples: list[Row] = []
    for model in sorted(registry.models, key=lambda item: item.name):
        if model.name not in kept:
            continue
        for alias, number in model.aliases:
            run = runs.get(run_of.get((model.name, number), ""))
            for key in metrics:
                if run is not None and key in run.metrics:
                    labels = {
                        "model": label_value(model.name, caps.max_label_length),
                        "alias": label_value(alias, caps.max_label_length),
                        "version": str(number),
                        "metric": label_value(key, caps.max_label_length),
                    }
                    samples.append((m.OFFLINE_METRIC, run.metrics[key][0], labels))
    return Rows(tuple(samples))


def _counted_at(run: Run) -> float:
    """Ended runs count when they ended; in-flight ones when they started."""
    return (run.end or 0.0) if run.status in TERMINAL_STATUSES else run.start


def training_rows(training: Training, windows: Sequence[tuple[str, float]], max_label_length: int) -> Rows:
    runs_by_experiment: dict[str, dict[str, Run]] = {}
    for run in training.runs:  # dedupe: a run can match both the ended and the in-flight search
        runs_by_experiment.setdefault(run.experiment_id, {})[run.run_id] = run
    samples: list[Row] = []
    for experiment in training.experiments:
        name = label_value(experiment.name, max_label_length)
        runs = list(runs_by_experiment.get(experiment.id, {}).values())
        for label, seconds in windows:
            since = training.read_at - seconds
            counts = Counter(run.status for run in runs if _counted_at(run) >= since)
            for status in sorted({*RUN_STATUSES, *counts}):
                samples.append(
                    (m.TRAINING_RUNS, counts[status], {"experiment": name, "status": status, "window": label})
                )
        for status in TERMINAL_STATUSES:
            ended = [(r.end, r.start) for r in runs if r.status == status and r.end is not None]
            if ended:  # the read already limited ended runs to the largest window
                end, start = max(ended)
                samples.append(
                    (m.TRAINING_LAST_DURATION, max(0.0, end - start), {"experiment": name, "status": status})
                )
        success = training.last_success.get(experiment.id)
        samples.append((m.TRAINING_LAST_SUCCESS, (success.end or 0) if success else 0, {"experiment": name}))
    return Rows(tuple(samples))


@dataclass(frozen=True)
class MonitoringKeys:
    model_tag: str
    version_tag: str
    drift_metrics: tuple[str, ...]
    quality_metrics: tuple[str, ...]
    max_series: int
    max_label_length: int

    def classify(self, key: str) -> tuple[str, str, str] | None:
        """(kind, metric, feature) for a configured key, None for any other key."""
        if key in self.quality_metrics:
            return "quality", key, ""
        if key in self.drift_metrics:
            return "drift", key, ""
        # The longest configured name wins, so `p_value.age` is not read as `p` + `value.age`.
        for name in sorted(self.drift_metrics, key=len, reverse=True):
            if key.startswith(name + ".") and len(key) > len(name) + 1:
                return "drift", name, key[len(name) + 1 :]
        return None


def monitoring_rows(monitoring: Monitoring, keys: MonitoringKeys) -> Rows:
    latest: dict[tuple[str, str, str, str, str], tuple[float, float]] = {}
    for run in monitoring.runs:
        model = run.tags.get(keys.model_tag)
        if not model:
            continue
        version = run.tags.get(keys.version_tag, "")
        for key, (metric_value, logged_at) in run.metrics.items():
            found = keys.classify(key)
            if found is None:
                continue
            series = (found[0], model, version, found[1], found[2])
            if series not in latest or logged_at > latest[series][1]:
                latest[series] = (metric_value, logged_at)
    ordered = sorted(latest)
    samples: list[Row] = [(m.MONITORING_RUNS, len(monitoring.runs), {})]
    for kind, model, version, metric, feature in ordered[: keys.max_series]:
        metric_value, logged_at = latest[(kind, model, version, metric, feature)]
        labels = {
            "model": label_value(model, keys.max_label_length),
            "version": label_value(version, keys.max_label_length),
            "metric": label_value(metric, keys.max_label_length),
        }
        if kind == "drift":
            labels["feature"] = label_value(feature, keys.max_label_length)
            samples += [(m.DRIFT, metric_value, labels), (m.DRIFT_TIMESTAMP, logged_at, labels)]
        else:
            samples += [(m.QUALITY, metric_value, labels), (m.QUALITY_TIMESTAMP, logged_at, labels)]
    return Rows(tuple(samples), dropped={"monitored_series": max(0, len(ordered) - keys.max_series)})

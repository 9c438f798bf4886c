"""Checks of the drift, quality, training, registry and exporters sections, and of the drift and quality parts
of models.overrides: the values the model, training, registry and exporter alerts are built from."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from bundle.checks import K8S_LABEL_VALUE, Checks
from bundle.overrides import SECTIONS, Section, metrics_for

if TYPE_CHECKING:
    from bundle.schema import BundleConfig

DRIFT_DIRECTIONS = ("higher_is_worse", "lower_is_worse")
QUALITY_DIRECTIONS = ("higher_is_better", "lower_is_better")
EXPERIMENT_KEYS = ("no_success_for",)


def _number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _drift_entry(c: Checks, key: str, entry: Any) -> None:
    if not isinstance(entry, Mapping) or set(entry) != {"direction", "warning", "critical"}:
        c.problems.append(f"{key}: must be a mapping of direction, warning and critical")
        return
    direction, warning, critical = entry["direction"], entry["warning"], entry["critical"]
    c.require(direction in DRIFT_DIRECTIONS, f"{key}.direction", f"must be one of {DRIFT_DIRECTIONS}")
    if not (_number(warning) and _number(critical)):
        c.problems.append(f"{key}: warning and critical must be numbers")
    elif direction == "higher_is_worse":
        c.require(warning < critical, f"{key}.warning", "must be below critical (higher is worse)")
    elif direction == "lower_is_worse":
        c.require(warning > critical, f"{key}.warning", "must be above critical (lower is worse)")


def _quality_entry(c: Checks, key: str, entry: Any) -> None:
    if not isinstance(entry, Mapping) or set(entry) != {"direction", "tolerance"}:
        c.problems.append(f"{key}: must be a mapping of direction and tolerance")
        return
    direction, tolerance = entry["direction"], entry["tolerance"]
    c.require(direction in QUALITY_DIRECTIONS, f"{key}.direction", f"must be one of {QUALITY_DIRECTIONS}")
    # A higher-is-better metric cannot fall short by 100% or more of a positive baseline.
    limit = 1 if direction == "higher_is_better" else float("inf")
    c.require(
        _number(tolerance) and 0 < tolerance < limit,
        f"{key}.tolerance",
        f"must be a relative shortfall above 0{' and below 1' if limit == 1 else ''}, got {tolerance!r}",
    )


def _table(c: Checks, key: str, table: Mapping[str, Any], section: Section) -> None:
    c.require(bool(table), key, "must name at least one metric")
    for name, entry in table.items():
        c.require(
            isinstance(name, str) and bool(name) and bool(K8S_LABEL_VALUE.match(name)),
            f"{key}.{name}",
            "must be a metric key as the exporter labels it",
        )
        (_drift_entry if section == "drift" else _quality_entry)(c, f"{key}.{name}", entry)


def _overrides(c: Checks, cfg: BundleConfig) -> None:
    defaults = {"drift": cfg.drift.metrics, "quality": cfg.quality.metrics}
    for model, entry in cfg.models.overrides.items():
        if not isinstance(entry, Mapping):
            c.problems.append(f"models.overrides.{model}: must be a mapping")
            continue
        for section in SECTIONS:
            if section not in entry:
                continue
            key = f"models.overrides.{model}.{section}"
            part = entry[section]
            if (
                not isinstance(part, Mapping)
                or set(part) - {"metrics"}
                or not isinstance(part.get("metrics"), Mapping)
            ):
                c.problems.append(f"{key}: may only hold metrics, a mapping of metric -> changed keys")
                continue
            unknown = set(part["metrics"]) - set(defaults[section])
            c.require(
                not unknown,
                f"{key}.metrics",
                f"unknown metrics {sorted(unknown)}: add them to {section}.metrics",
            )
            table = metrics_for(defaults[section], cfg.models.overrides, section, model)
            _table(
                c, f"{key}.metrics", {name: table[name] for name in part["metrics"] if name in table}, section
            )


def check(c: Checks, cfg: BundleConfig) -> None:
    """Add every problem of the model, training, registry and exporter sections to `c`."""
    d, q, t, r, x = cfg.drift, cfg.quality, cfg.training, cfg.registry, cfg.exporters
    _table(c, "drift.metrics", d.metrics, "drift")
    _table(c, "quality.metrics", q.metrics, "quality")
    both = set(d.metrics) & set(q.metrics)
    # Monitoring freshness merges both families' timestamps with `or`, which needs distinct metric labels.
    c.require(not both, "quality.metrics", f"must not reuse drift metric names {sorted(both)}")
    c.ratio("drift.drifted_features_ratio_warning", d.drifted_features_ratio_warning)
    for key, value in (
        ("drift.alert_for", d.alert_for),
        ("quality.alert_for", q.alert_for),
        ("quality.monitoring_stale_after", q.monitoring_stale_after),
        ("training.window", t.window),
        ("training.success_ratio_for", t.success_ratio_for),
        ("training.no_success_for", t.no_success_for),
        ("registry.unreachable_for", r.unreachable_for),
        ("registry.snapshot_stale_after", r.snapshot_stale_after),
        ("registry.items_dropped_window", r.items_dropped_window),
        ("registry.alias_not_ready_for", r.alias_not_ready_for),
        ("exporters.absent_for", x.absent_for),
        ("exporters.targets_down_for", x.targets_down_for),
        ("exporters.collector_failing_for", x.collector_failing_for),
        ("exporters.discovery_failing_for", x.discovery_failing_for),
    ):
        c.duration(key, value)
    _overrides(c, cfg)
    c.ratio("training.success_ratio_target", t.success_ratio_target)
    c.require(
        isinstance(t.min_runs, int) and not isinstance(t.min_runs, bool) and t.min_runs >= 1,
        "training.min_runs",
        f"must be an integer of at least 1, got {t.min_runs!r}",
    )
    for experiment, entry in t.experiments.items():
        key = f"training.experiments.{experiment}"
        if not isinstance(entry, Mapping) or not entry or set(entry) - set(EXPERIMENT_KEYS):
            c.problems.append(f"{key}: must be a mapping of {', '.join(EXPERIMENT_KEYS)}")
            continue
        c.duration(f"{key}.no_success_for", str(entry.get("no_success_for", t.no_success_for)))
    c.require(
        0 < r.availability_objective < 1,
        "registry.availability_objective",
        f"must be a ratio in (0, 1), got {r.availability_objective!r}",
    )
    c.require(
        bool(r.production_alias) and bool(K8S_LABEL_VALUE.match(r.production_alias)),
        "registry.production_alias",
        f"must be an MLflow alias name, got {r.production_alias!r}",
    )
    c.ratio("exporters.targets_down_ratio", x.targets_down_ratio)

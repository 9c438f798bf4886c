"""Models and quality: the registry's models, versions and aliases, training runs, drift against its
thresholds, and online quality against the offline baseline, from the MLflow collector. The registry's
own health is in `dashboards.registry`. The drift, quality, training and registry alerts link here."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from alerts import records
from bundle.promql import Re
from bundle.schema import BundleConfig, duration_seconds
from dashboards import registry
from dashboards.scope import Scoped, board, cluster_variables, grouping, mlflow_metrics, selector
from dashboards.style import Query, Section, query_variable, steps, timeseries

VERSION = "{{model}} v{{version}}"


class ModelQueries:
    """Selectors of MLflow series in the dashboard's model, version and experiment."""

    def __init__(self, cfg: BundleConfig) -> None:
        self.cfg = cfg
        self.m: Scoped = mlflow_metrics(cfg)

    def models(self, name: str, versions: bool = False, **matchers: str | Re) -> str:
        scope: dict[str, str | Re] = {"model": Re("$model")}
        if versions:
            scope["version"] = Re("$version")
        return self.m(name, **scope, **matchers)

    def experiments(self, name: str, **matchers: str | Re) -> str:
        return self.m(name, experiment=Re("$experiment"), **matchers)


def catalogue(cfg: BundleConfig) -> Section:
    q = ModelQueries(cfg)
    return Section(
        "Registry contents",
        (
            timeseries(
                "Registered models",
                "Registered models in the MLflow registry.",
                "short",
                Query(q.m("mlflow_registered_models"), "models"),
                width=6,
            ),
            timeseries(
                "Versions by status",
                "Versions of each model by status: READY, and PENDING_REGISTRATION or FAILED_REGISTRATION "
                "while any exist.",
                "short",
                Query(q.models("mlflow_model_versions"), "{{model}} {{status}}"),
                width=6,
            ),
            timeseries(
                "Alias versions",
                "The version number each alias points to: a step is a promotion or a rollback.",
                "none",
                Query(q.models("mlflow_model_alias_version"), "{{model}}@{{alias}}"),
                width=6,
            ),
            timeseries(
                "Age of the version behind each alias",
                "Time since the version each alias points to was created: an old production version means "
                "retraining is not reaching production.",
                "s",
                Query(q.models("mlflow_model_alias_version_age_seconds"), "{{model}}@{{alias}}"),
                width=6,
            ),
        ),
    )


def training(cfg: BundleConfig) -> Section:
    q = ModelQueries(cfg)
    t = cfg.training
    last_success = q.experiments("mlflow_training_last_success_timestamp_seconds")
    killed = "counted as failures" if t.killed_is_failure else "not counted"
    return Section(
        "Training",
        (
            timeseries(
                "Training runs by status",
                f"Runs of each experiment in the last {t.window} (training.window) by status: ended in the "
                "window, or started in it and still running or scheduled.",
                "short",
                Query(q.experiments("mlflow_training_runs", window=t.window), "{{experiment}} {{status}}"),
                width=6,
            ),
            timeseries(
                "Training success ratio",
                f"FINISHED runs over ended runs per experiment in the last {t.window} (KILLED runs "
                f"{killed}); the line is the platform target of {t.success_ratio_target:.0%} "
                "(training.success_ratio_target).",
                "percentunit",
                Query(
                    selector(cfg, records.training_success_ratio(), experiment=Re("$experiment")),
                    "{{experiment}}",
                ),
                thresholds=steps("red", (t.success_ratio_target, "green")),
                shade_thresholds=True,
                min=0,
                max=1,
                width=6,
            ),
            timeseries(
                "Time since the last successful run",
                f"Time since each experiment's last FINISHED run ended; past {t.no_success_for} "
                "(training.no_success_for, per experiment in training.experiments) a ticket opens. "
                "Experiments that never succeeded are absent.",
                "s",
                Query(f"time() - ({last_success} > 0)", "{{experiment}}"),
                thresholds=steps("green", (duration_seconds(t.no_success_for), "red")),
                width=6,
            ),
            timeseries(
                "Last run duration",
                "Duration of each experiment's most recent run by how it ended.",
                "s",
                Query(
                    q.experiments("mlflow_training_last_run_duration_seconds"),
                    "{{experiment}} {{status}}",
                ),
                width=6,
            ),
        ),
    )


def drift_thresholds(spec: Mapping[str, Any]) -> list[dict[str, Any]]:
    """Colours of a drift metric's values: worse past warning, worst past critical, either direction."""
    warning, critical = float(spec["warning"]), float(spec["critical"])
    if spec.get("direction") == "lower_is_worse":
        return steps("red", (critical, "orange"), (warning, "green"))
    return steps("green", (warning, "orange"), (critical, "red"))


def drift(cfg: BundleConfig) -> Section:
    q = ModelQueries(cfg)
    d = cfg.drift
    panels = [
        timeseries(
            f"Drift: {metric}",
            f"Latest {metric} of each model version from its monitoring runs, per feature and, without a "
            f"feature, for the whole dataset ({spec.get('direction', 'higher_is_worse').replace('_', ' ')}; "
            f"warning {spec['warning']:g}, critical {spec['critical']:g}: drift.metrics.{metric}; "
            "models.overrides may set a model's own).",
            "none",
            Query(q.models("mlflow_model_drift", versions=True, metric=metric), f"{VERSION} {{{{feature}}}}"),
            thresholds=drift_thresholds(spec),
            shade_thresholds=True,
        )
        for metric, spec in d.metrics.items()
    ]
    panels.append(
        timeseries(
            "Drifted features",
            "Share of each model version's features past the drift metric's warning threshold; the line is "
            f"drift.drifted_features_ratio_warning ({d.drifted_features_ratio_warning:.0%}).",
            "percentunit",
            Query(
                selector(cfg, records.drifted_feature_ratio(), model=Re("$model"), version=Re("$version")),
                f"{VERSION} {{{{metric}}}}",
            ),
            thresholds=steps("green", (d.drifted_features_ratio_warning, "red")),
            shade_thresholds=True,
            min=0,
            max=1,
            width=24,
        )
    )
    return Section("Drift", tuple(panels))


def _directions(cfg: BundleConfig) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {"higher_is_better": [], "lower_is_better": []}
    for metric, spec in cfg.quality.metrics.items():
        out.setdefault(str(spec.get("direction", "higher_is_better")), []).append(metric)
    return out


def quality(cfg: BundleConfig) -> Section:
    q = ModelQueries(cfg)
    alias = cfg.registry.production_alias
    on = grouping(cfg, "model", "version", "metric")
    age = grouping(cfg, "model", "version")

    def shortfall(metrics: list[str], higher_is_better: bool) -> str:
        pattern = Re("|".join(metrics))
        online = q.models("mlflow_model_quality", versions=True, metric=pattern)
        offline = q.models("mlflow_model_offline_metric", alias=alias, metric=pattern)
        ratio = f"{online}\n/ on ({on})\n{offline}"
        return f"1 - (\n{ratio}\n)" if higher_is_better else f"(\n{ratio}\n) - 1"

    def staleness(name: str) -> str:
        return f"time() - max by ({age}) ({q.models(name, versions=True)})"

    panels = [
        timeseries(
            "Online quality",
            "Latest online quality metric of each model version from its monitoring runs.",
            "none",
            Query(q.models("mlflow_model_quality", versions=True), f"{VERSION} {{{{metric}}}}"),
        ),
        timeseries(
            "Offline baseline",
            f"The metric as logged by the training run of the version behind the {alias!r} alias "
            "(registry.production_alias): what online quality is held against.",
            "none",
            Query(q.models("mlflow_model_offline_metric", alias=alias), f"{VERSION} {{{{metric}}}}"),
        ),
    ]
    if cfg.quality.metrics:
        tolerances = ", ".join(f"{m} {s['tolerance']:.0%}" for m, s in cfg.quality.metrics.items())
        lowest = min(float(s["tolerance"]) for s in cfg.quality.metrics.values())
        panels.append(
            timeseries(
                "Quality shortfall against the baseline",
                "How much worse online quality is than the offline baseline of the same version, relatively "
                f"(0 = as good, above 0 = worse, whichever the metric's direction). Tolerances: {tolerances} "
                "(quality.metrics); the line is the smallest.",
                "percentunit",
                Query(
                    "\nor\n".join(
                        f"(\n{shortfall(metrics, direction == 'higher_is_better')}\n)"
                        for direction, metrics in _directions(cfg).items()
                        if metrics
                    ),
                    f"{VERSION} {{{{metric}}}}",
                ),
                thresholds=steps("green", (lowest, "red")),
                shade_thresholds=True,
            )
        )
    panels.append(
        timeseries(
            "Monitoring staleness",
            "Time since each model version last had a drift or quality value logged; past "
            f"{cfg.quality.monitoring_stale_after} (quality.monitoring_stale_after) monitoring is stale.",
            "s",
            Query(staleness("mlflow_model_drift_timestamp_seconds"), f"{VERSION} drift"),
            Query(staleness("mlflow_model_quality_timestamp_seconds"), f"{VERSION} quality"),
            thresholds=steps("green", (duration_seconds(cfg.quality.monitoring_stale_after), "red")),
        )
    )
    return Section("Quality and monitoring", tuple(panels))


def build(cfg: BundleConfig) -> dict[str, Any]:
    d = cfg.dashboards
    m = mlflow_metrics(cfg)
    info = "mlflow_model_version_info"
    return board(
        cfg,
        uid=d.models_uid,
        title="Models and quality",
        description="The MLflow registry's models, versions and aliases, training outcomes, drift and online "
        "quality against the offline baseline, and the registry's own availability.",
        variables=[
            *cluster_variables(cfg, m, "mlflow_up"),
            query_variable("model", "Model", f"label_values({m(info)}, model)"),
            query_variable("version", "Version", f"label_values({m(info, model=Re('$model'))}, version)"),
            query_variable(
                "experiment", "Experiment", f"label_values({m('mlflow_training_runs')}, experiment)"
            ),
        ],
        sections=[catalogue(cfg), training(cfg), drift(cfg), quality(cfg), registry.section(cfg)],
    )

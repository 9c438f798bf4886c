"""Model alerts from MLflow monitoring runs: data drift, online quality against the offline baseline, and
monitoring that went stale or never started.

Drift scores alert per dataset-level score (feature=""); per-feature scores feed the recorded share of drifted
features, which alerts on its own. Each drift metric has a direction (a PSI rises with drift, a KS p-value
falls), each quality metric one too (AUC should be high, RMSE low); both tables can be overridden per model
(models.overrides). The exporter's series carry its pod's target labels, so every rule aggregates them away.
"""

from __future__ import annotations

from alerts import records
from alerts.boundary import Boundary
from alerts.mlflow_boundary import model_boundaries
from alerts.model import Alert, Group, Record, Severity
from alerts.per_model import table_scopes
from alerts.selectors import cluster_metrics
from bundle.promql import Metrics, Re, join_labels
from bundle.schema import BundleConfig, duration_seconds

GROUP = "mlobs-models"
# Drift direction -> the comparison past a threshold, and the aggregation that keeps the worst score.
DRIFT_DIRECTIONS = {"higher_is_worse": (">", "max"), "lower_is_worse": ("<", "min")}
VERSION = "Model {{ $labels.model }} version {{ $labels.version }}"


def production_versions(cfg: BundleConfig, m: Metrics) -> str:
    """One series per model with a production alias, its version as a label (the alias holds it as value)."""
    alias = m("mlflow_model_alias_version", alias=cfg.registry.production_alias)
    by = m.by("mlflow_model_alias_version", "model")
    return f'count_values by ({by}) ("version", max by ({by}) ({alias}))'


def boundaries(cfg: BundleConfig) -> list[Boundary]:
    return model_boundaries(cfg)


def _drift_terms(cfg: BundleConfig, m: Metrics, level: str, per_feature: bool) -> list[str]:
    keep = m.by("mlflow_model_drift", "model", "version", "metric", *(("feature",) if per_feature else ()))
    ratio_by = m.by("mlflow_model_drift", "model", "version", "metric")
    terms = []
    for scope, table in table_scopes(cfg, "drift"):
        for metric, entry in table.items():
            op, worst = DRIFT_DIRECTIONS[entry["direction"]]
            feature: str | Re = Re(".+") if per_feature else ""
            selector = m("mlflow_model_drift", metric=metric, feature=feature, **scope)
            past = f"{worst} by ({keep}) ({selector}) {op}"
            if per_feature:
                terms.append(f"avg by ({ratio_by}) ({past} bool {entry[level]:g})")
            else:
                terms.append(f"{past} {entry[level]:g}")
    return terms


def _drift_alert(cfg: BundleConfig, m: Metrics, level: Severity, consequence: str) -> Alert:
    d = cfg.drift
    return Alert(
        f"{cfg.naming.alert_prefix}ModelDrift{level.capitalize()}",
        "\nor\n".join(_drift_terms(cfg, m, level, per_feature=False)),
        level,
        f"A model's input data drifted past the {level} threshold.",
        f"{VERSION}: dataset drift {{{{ $labels.metric }}}} is {{{{ $value }}}}, past its {level} threshold "
        f"for {d.alert_for}; {consequence}",
        for_=d.alert_for,
    )


def _quality_terms(cfg: BundleConfig, m: Metrics) -> list[str]:
    keep = m.by("mlflow_model_quality", "model", "version", "metric")
    terms = []
    for scope, table in table_scopes(cfg, "quality"):
        for metric, entry in table.items():
            online = m("mlflow_model_quality", metric=metric, **scope)
            offline = m("mlflow_model_offline_metric", metric=metric, **scope)
            # Several aliases may point at one version: one baseline per version.
            o, b = f"max by ({keep}) ({online})", f"max by ({keep}) ({offline})"
            worse = f"({b} - {o})" if entry["direction"] == "higher_is_better" else f"({o} - {b})"
            terms.append(f"{worse} / {b} > {entry['tolerance']:g}")
    return terms


def groups(cfg: BundleConfig) -> list[Group]:
    m = cluster_metrics(cfg)
    d, q = cfg.drift, cfg.quality
    prefix = f"{cfg.naming.alert_prefix}Model"
    version = VERSION
    on_version = join_labels(cfg.naming.cluster_label, "model", "version")
    # Drift and quality metric names never coincide (bundle.checks_models), so `or` keeps every timestamp.
    logged = f"{m('mlflow_model_drift_timestamp_seconds')}\nor\n{m('mlflow_model_quality_timestamp_seconds')}"
    stale_after = q.monitoring_stale_after
    rules = (
        Record(
            records.drifted_feature_ratio(), "\nor\n".join(_drift_terms(cfg, m, "warning", per_feature=True))
        ),
        _drift_alert(cfg, m, "warning", "compare the live input with the training data."),
        _drift_alert(cfg, m, "critical", "its predictions may no longer be trustworthy."),
        Alert(
            f"{prefix}FeaturesDrifted",
            f"{records.drifted_feature_ratio()} > {d.drifted_features_ratio_warning:g}",
            "warning",
            "Many of a model's input features drifted.",
            f"{version}: {{{{ $value | humanizePercentage }}}} of its features are past the "
            f"{{{{ $labels.metric }}}} warning threshold for {d.alert_for} (alert above "
            f"{d.drifted_features_ratio_warning:.0%}).",
            for_=d.alert_for,
        ),
        Alert(
            f"{prefix}QualityDegraded",
            "\nor\n".join(_quality_terms(cfg, m)),
            "warning",
            "A model's online quality is below its offline baseline.",
            f"{version}: online {{{{ $labels.metric }}}} is {{{{ $value | humanizePercentage }}}} worse than "
            f"the offline baseline of the same version for {q.alert_for}, beyond its tolerance.",
            for_=q.alert_for,
        ),
        Alert(
            f"{prefix}MonitoringStale",
            f"time() - max by ({on_version}) (\n{logged}\n) > {duration_seconds(stale_after):g}\n"
            f"and on ({on_version})\n{production_versions(cfg, m)}",
            "warning",
            "A production model's monitoring stopped logging drift and quality.",
            f"{version} (behind alias {cfg.registry.production_alias}) logged no drift or quality value for "
            f"{{{{ $value | humanizeDuration }}}} (expected within {stale_after}); its drift and quality "
            "alerts judge old data.",
        ),
        Alert(
            f"{prefix}MonitoringMissing",
            f"{production_versions(cfg, m)}\nunless on ({on_version})\n({logged})",
            "warning",
            "A production model has no monitoring at all.",
            f"{version} is behind alias {cfg.registry.production_alias} but no monitoring run logged drift "
            f"or quality for it in {stale_after}; nothing watches its inputs or its quality.",
            for_=stale_after,
        ),
    )
    return [Group(GROUP, rules, dashboard_uid=cfg.dashboards.models_uid)]

"""Boundary specs over the MLflow series of the cluster Deployment (alerts/boundary.py): the model alerts'
here, the training and registry alerts' beside their rules, all on series labelled as the site's config
names them.

Values sit a small relative margin past a threshold, or exactly on it where the comparison is strict, so a
wrong comparison or direction fails while float rounding in rate() and division does not.
"""

from __future__ import annotations

import math

from alerts.boundary import Boundary, Series, cluster, steady
from alerts.per_model import scoped_table_models
from bundle.schema import BundleConfig, duration_seconds

MARGIN = 1e-3  # relative distance of "just past" and "just short of" from a threshold
DEFAULT_MODEL = "boundary-default"  # a model without overrides, judged by the default tables
VERSION = "1"


def seconds(duration: str) -> int:
    return int(duration_seconds(duration)) if duration else 0


def past(threshold: float, worse_is_higher: bool, toward_worse: bool = True) -> float:
    """Just past `threshold` on its worse side (or, not `toward_worse`, just short of it)."""
    step = max(abs(threshold), 1e-9) * MARGIN
    return threshold + (step if worse_is_higher == toward_worse else -step)


class MlflowSite:
    """Series of the cluster Deployment's job and alert labels, as the site's config names them."""

    def __init__(self, cfg: BundleConfig) -> None:
        n = cfg.naming
        self.cfg = cfg
        self.cluster = cluster(cfg)
        self.job = {n.job_label: cfg.exporter.cluster_job}

    def target(self, **labels: str) -> dict[str, str]:
        return {**self.cluster, **self.job, "instance": "10.42.3.17:9847", **labels}

    def alert(self, severity: str, **labels: str) -> dict[str, str]:
        return {"severity": severity, **self.cluster, **labels}

    def name(self, alert: str) -> str:
        return f"{self.cfg.naming.alert_prefix}{alert}"


def model_boundaries(cfg: BundleConfig) -> list[Boundary]:
    site = MlflowSite(cfg)
    return [*_drift(site), *_features(site), *_quality(site), *_monitoring(site)]


def _model(models: list[str]) -> str:
    return models[0] if models else DEFAULT_MODEL


def _drift(site: MlflowSite) -> list[Boundary]:
    """Per override scope, metric and level: a dataset score just past the threshold, and one on it."""
    hold, out = site.cfg.drift.alert_for, []
    for models, table in scoped_table_models(site.cfg, "drift"):
        for metric, entry in table.items():
            labels = {"model": _model(models), "version": VERSION, "metric": metric}
            higher = entry["direction"] == "higher_is_worse"
            for level in ("warning", "critical"):
                threshold = float(entry[level])
                out.append(
                    Boundary(
                        site.name(f"ModelDrift{level.capitalize()}"),
                        site.alert(level, **labels),
                        hold,
                        [steady("mlflow_model_drift", site.target(**labels), past(threshold, higher), hold)],
                        [steady("mlflow_model_drift", site.target(**labels), threshold, hold)],
                        onset="0m",
                    )
                )
    return out


def _features(site: MlflowSite) -> list[Boundary]:
    """20 features of which just more than the warning share drifted, and just fewer."""
    d, n = site.cfg.drift, 20
    ratio = d.drifted_features_ratio_warning
    if math.floor(ratio * n) + 1 > n:
        return []  # no share of features can exceed a ratio of 1
    metric, entry = next(iter(d.metrics.items()))
    higher = entry["direction"] == "higher_is_worse"
    drifted = past(float(entry["critical"]), higher)
    calm = past(float(entry["warning"]), higher, toward_worse=False)
    labels = {"model": DEFAULT_MODEL, "version": VERSION, "metric": metric}

    def features(count: int) -> list[Series]:
        return [
            steady(
                "mlflow_model_drift",
                site.target(**labels, feature=f"f{i:02d}"),
                drifted if i < count else calm,
                d.alert_for,
            )
            for i in range(n)
        ]

    return [
        Boundary(
            site.name("ModelFeaturesDrifted"),
            site.alert("warning", **labels),
            d.alert_for,
            features(math.floor(ratio * n) + 1),
            features(math.ceil(ratio * n) - 1),
            onset="0m",
        )
    ]


def _online(site: MlflowSite, labels: dict[str, str], online: float) -> list[Series]:
    """An offline baseline of 1 and the online value of the same version."""
    hold = site.cfg.quality.alert_for
    return [
        steady("mlflow_model_offline_metric", site.target(alias="production", **labels), 1.0, hold),
        steady("mlflow_model_quality", site.target(**labels), online, hold),
    ]


def _quality(site: MlflowSite) -> list[Boundary]:
    """Per override scope and metric: online quality just beyond its tolerance of the baseline, and within."""
    hold, out = site.cfg.quality.alert_for, []
    for models, table in scoped_table_models(site.cfg, "quality"):
        for metric, entry in table.items():
            labels = {"model": _model(models), "version": VERSION, "metric": metric}
            worse = float(entry["tolerance"]) * (-1 if entry["direction"] == "higher_is_better" else 1)
            out.append(
                Boundary(
                    site.name("ModelQualityDegraded"),
                    site.alert("warning", **labels),
                    hold,
                    _online(site, labels, 1 + worse * (1 + 10 * MARGIN)),
                    _online(site, labels, 1 + worse * (1 - 10 * MARGIN)),
                    onset="0m",
                )
            )
    return out


def _monitoring(site: MlflowSite) -> list[Boundary]:
    """A production version whose last drift value is just older than allowed (and exactly that old), and one
    with no monitoring at all (and one with)."""
    cfg = site.cfg
    stale_after = cfg.quality.monitoring_stale_after
    stale, metric = seconds(stale_after), next(iter(cfg.drift.metrics))
    labels = {"model": DEFAULT_MODEL, "version": VERSION}
    alias = site.target(model=DEFAULT_MODEL, alias=cfg.registry.production_alias)

    def production(logged_at: float | None, for_: str) -> list[Series]:
        out = [steady("mlflow_model_alias_version", alias, float(VERSION), for_)]
        if logged_at is not None:
            logged = site.target(**labels, metric=metric)
            out.append(steady("mlflow_model_drift_timestamp_seconds", logged, logged_at, for_))
        return out

    return [
        # Judged at 1m: a value logged at 60 - stale is exactly `stale` old then.
        Boundary(
            site.name("ModelMonitoringStale"),
            site.alert("warning", **labels),
            "",
            production(60 - stale - 1, ""),
            production(60 - stale, ""),
        ),
        Boundary(
            site.name("ModelMonitoringMissing"),
            site.alert("warning", **labels),
            stale_after,
            production(None, stale_after),
            production(0, stale_after),
            onset="0m",
        ),
    ]

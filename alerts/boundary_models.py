"""promtool test cases derived from the config: each model, training, registry and exporter alert just past
its threshold fires once its `for` has passed and not a minute before; just inside its threshold it is silent.

`boundary_file(cfg)` is a promtool test file for the rules of the same config rendered without annotations
(labels are what a threshold decides; the hand-written tests in tests/rules/ check annotations). Values sit
a small relative margin either side of each threshold, so a wrong comparison or direction fails while float
rounding in rate() and division does not. Written to fold into the shared generator (alerts/boundary.py).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from alerts import exporters, training
from alerts.per_model import scoped_table_models
from alerts.registry import PAGE_BURNS, TICKET_BURNS
from bundle.schema import BundleConfig, duration_seconds

Case = dict[str, Any]
MARGIN = 1e-3  # relative distance of "just past" and "just inside" from a threshold
INSTANCE = "10.42.3.17:9847"
DEFAULT_MODEL = "boundary-default"  # a model without overrides, judged by the default tables


def _seconds(duration: str) -> int:
    return int(duration_seconds(duration))


def _t(seconds: float) -> str:
    return f"{max(0, int(seconds))}s"


class _Builder:
    """Series and checks of one config, in promtool's shapes."""

    def __init__(self, cfg: BundleConfig) -> None:
        self.cfg = cfg
        self.job_label = cfg.naming.job_label

    def series(self, name: str, values: str, job: str = "", **labels: str) -> dict[str, str]:
        target = {self.job_label: job or self.cfg.exporter.cluster_job, "instance": INSTANCE}
        text = ", ".join(f'{k}="{v}"' for k, v in {**target, **labels}.items())
        return {"series": f"{name}{{{text}}}", "values": values}

    def constant(self, value: float, for_seconds: float) -> str:
        return f"{value!r}x{int(for_seconds // 60) + 2}"

    @staticmethod
    def check(alert: str, at: float, *fired: Mapping[str, str]) -> Case:
        return {
            "eval_time": _t(at),
            "alertname": alert,
            "exp_alerts": [{"exp_labels": dict(f)} for f in fired],
        }

    def across_for(self, alert: str, for_: str, *fired: Mapping[str, str]) -> list[Case]:
        """Silent a minute before `for` has passed, firing `fired` when it has."""
        seconds = _seconds(for_) if for_ else 0
        checks = [self.check(alert, seconds, *fired)]
        if seconds >= 60:
            checks.insert(0, self.check(alert, seconds - 60))
        return checks


def _past(threshold: float, worse_is_higher: bool, toward_worse: bool = True) -> float:
    step = max(abs(threshold), 1e-9) * MARGIN
    return threshold + (step if worse_is_higher == toward_worse else -step)


def _drift(b: _Builder, prefix: str) -> list[Case]:
    cfg, cases = b.cfg, []
    for models, table in scoped_table_models(cfg, "drift"):
        model = models[0] if models else DEFAULT_MODEL
        for metric, entry in table.items():
            higher = entry["direction"] == "higher_is_worse"
            w, c = float(entry["warning"]), float(entry["critical"])
            values = {
                "past-warning": _past(w, higher),
                "at-warning": w,
                "at-critical": c,
                "past-critical": _past(c, higher),
            }
            labels = {"model": model, "metric": metric}
            series = [
                b.series(
                    "mlflow_model_drift", b.constant(v, _seconds(cfg.drift.alert_for)), version=k, **labels
                )
                for k, v in values.items()
            ]
            warned = [
                {"severity": "warning", "version": v, **labels}
                for v in ("past-warning", "at-critical", "past-critical")
            ]
            critical = [{"severity": "critical", "version": "past-critical", **labels}]
            checks = b.across_for(f"{prefix}ModelDriftWarning", cfg.drift.alert_for, *warned)
            checks += b.across_for(f"{prefix}ModelDriftCritical", cfg.drift.alert_for, *critical)
            cases.append({"interval": "1m", "input_series": series, "alert_rule_test": checks})
    return cases


def _features(b: _Builder, prefix: str) -> list[Case]:
    cfg, ratio, n = b.cfg, b.cfg.drift.drifted_features_ratio_warning, 20
    if math.floor(ratio * n) + 1 > n:
        return []  # no share of features can exceed a ratio of 1
    metric, entry = next(iter(cfg.drift.metrics.items()))
    higher = entry["direction"] == "higher_is_worse"
    drifted, calm = (
        _past(float(entry["critical"]), higher),
        _past(float(entry["warning"]), higher, toward_worse=False),
    )
    hold = _seconds(cfg.drift.alert_for)
    series = []
    for version, count in (("fire", math.floor(ratio * n) + 1), ("silent", math.ceil(ratio * n) - 1)):
        for i in range(n):
            value = drifted if i < count else calm
            labels = {"model": DEFAULT_MODEL, "version": version, "metric": metric, "feature": f"f{i:02d}"}
            series.append(b.series("mlflow_model_drift", b.constant(value, hold), **labels))
    fired = {"severity": "warning", "model": DEFAULT_MODEL, "version": "fire", "metric": metric}
    return [
        {
            "interval": "1m",
            "input_series": series,
            "alert_rule_test": b.across_for(f"{prefix}ModelFeaturesDrifted", cfg.drift.alert_for, fired),
        }
    ]


def _quality(b: _Builder, prefix: str) -> list[Case]:
    cfg, cases = b.cfg, []
    hold = _seconds(cfg.quality.alert_for)
    for models, table in scoped_table_models(cfg, "quality"):
        model = models[0] if models else DEFAULT_MODEL
        series, fired = [], []
        for metric, entry in table.items():
            sign = -1 if entry["direction"] == "higher_is_better" else 1
            tolerance = float(entry["tolerance"])
            for version, factor in (("fire", 1 + 10 * MARGIN), ("silent", 1 - 10 * MARGIN)):
                labels = {"model": model, "version": version, "metric": metric}
                series.append(
                    b.series(
                        "mlflow_model_offline_metric", b.constant(1.0, hold), alias="production", **labels
                    )
                )
                series.append(
                    b.series(
                        "mlflow_model_quality", b.constant(1 + sign * tolerance * factor, hold), **labels
                    )
                )
            fired.append({"severity": "warning", "model": model, "version": "fire", "metric": metric})
        checks = b.across_for(f"{prefix}ModelQualityDegraded", cfg.quality.alert_for, *fired)
        cases.append({"interval": "1m", "input_series": series, "alert_rule_test": checks})
    return cases


def _monitoring(b: _Builder, prefix: str) -> list[Case]:
    cfg = b.cfg
    alias, stale = cfg.registry.production_alias, _seconds(cfg.quality.monitoring_stale_after)
    metric = next(iter(cfg.drift.metrics))
    series = [
        b.series("mlflow_model_alias_version", b.constant(1, stale), model="boundary-stale", alias=alias),
        # Logged `stale` seconds before the first minute: exactly that old at 1m, older at 2m.
        b.series(
            "mlflow_model_drift_timestamp_seconds",
            b.constant(60 - stale, stale),
            model="boundary-stale",
            version="1",
            metric=metric,
        ),
        b.series("mlflow_model_alias_version", b.constant(1, stale), model="boundary-missing", alias=alias),
    ]
    checks = [
        b.check(f"{prefix}ModelMonitoringStale", 60),
        b.check(
            f"{prefix}ModelMonitoringStale",
            120,
            {"severity": "warning", "model": "boundary-stale", "version": "1"},
        ),
        *b.across_for(
            f"{prefix}ModelMonitoringMissing",
            cfg.quality.monitoring_stale_after,
            {"severity": "warning", "model": "boundary-missing", "version": "1"},
        ),
    ]
    return [{"interval": "1m", "input_series": series, "alert_rule_test": checks}]


def _training(b: _Builder, prefix: str) -> list[Case]:
    cfg, t = b.cfg, b.cfg.training
    hold, p, n = _seconds(t.success_ratio_for), t.success_ratio_target, max(t.min_runs, 20)
    failure = "KILLED" if t.killed_is_failure else "FAILED"
    counts = {
        "boundary-below": (math.ceil(p * n) - 1, n - math.ceil(p * n) + 1),
        "boundary-on-target": (math.ceil(p * n), n - math.ceil(p * n)),
        "boundary-min-runs": (0, t.min_runs),
        "boundary-too-few": (0, t.min_runs - 1),
    }
    fired = ["boundary-below", "boundary-min-runs"] + (["boundary-too-few"] if t.min_runs == 1 else [])
    series = []
    for experiment, (finished, failed) in counts.items():
        for status, count in (("FINISHED", finished), (failure, failed)):
            series.append(
                b.series(
                    "mlflow_training_runs",
                    b.constant(count, hold),
                    experiment=experiment,
                    status=status,
                    window=t.window,
                )
            )
    # KILLED runs that do not count as failures change nothing, however many.
    if not t.killed_is_failure:
        for status, count in (("FINISHED", n), ("KILLED", 10 * n)):
            series.append(
                b.series(
                    "mlflow_training_runs",
                    b.constant(count, hold),
                    experiment="boundary-killed",
                    status=status,
                    window=t.window,
                )
            )
    low = [{"severity": "warning", "experiment": e} for e in fired]
    checks = b.across_for(f"{prefix}TrainingSuccessRatioLow", t.success_ratio_for, *low)
    cases = [{"interval": "1m", "input_series": series, "alert_rule_test": checks}]
    experiments = [DEFAULT_MODEL.replace("default", "default-experiment"), *sorted(t.experiments)]
    series = [
        b.series(
            "mlflow_training_last_success_timestamp_seconds",
            b.constant(60 - _seconds(training.no_success_for(cfg, e)), 120),
            experiment=e,
        )
        for e in experiments
    ]
    stale = [{"severity": "warning", "experiment": e} for e in experiments]
    name = f"{prefix}TrainingNoRecentSuccess"
    cases.append(
        {
            "interval": "1m",
            "input_series": series,
            "alert_rule_test": [b.check(name, 60), b.check(name, 120, *stale)],
        }
    )
    return cases


def _burn(b: _Builder, alert: str, burns: tuple[tuple[str, str, float], ...], severity: str) -> list[Case]:
    budget = 1 - b.cfg.registry.availability_objective
    threshold = min(factor for _, _, factor in burns) * budget
    requests = 1_000_000
    cases = []
    for errors, fired in (
        (math.ceil(threshold * requests * (1 + MARGIN)), True),
        (math.floor(threshold * requests * (1 - MARGIN)), False),
    ):
        series = [
            b.series("mlflow_requests_total", f"0+{requests}x20", endpoint="runs/search"),
            b.series(
                "mlflow_request_errors_total",
                f"0+{errors}x20",
                endpoint="runs/search",
                kind="server_error",
            ),
        ]
        labels = [{"severity": severity, b.job_label: b.cfg.exporter.cluster_job}] if fired else []
        cases.append(
            {"interval": "1m", "input_series": series, "alert_rule_test": [b.check(alert, 600, *labels)]}
        )
    return cases


def _registry(b: _Builder, prefix: str) -> list[Case]:
    cfg, r = b.cfg, b.cfg.registry
    job = {b.job_label: cfg.exporter.cluster_job}
    cases = _burn(b, f"{prefix}RegistryBurnFast", PAGE_BURNS, "critical") + _burn(
        b, f"{prefix}RegistryBurnSlow", TICKET_BURNS, "warning"
    )
    stale, window = _seconds(r.snapshot_stale_after), _seconds(r.items_dropped_window)
    longest = max(_seconds(r.unreachable_for), _seconds(r.alias_not_ready_for), window)
    series = [
        b.series("mlflow_up", b.constant(0, longest)),
        # Exactly `stale` old at 0, a second older at 1m.
        b.series(
            "mlflow_snapshot_age_seconds", f"{stale} {b.constant(stale + 1, longest)}", section="registry"
        ),
        b.series("mlflow_snapshot_age_seconds", b.constant(stale, longest), section="training"),
        b.series("mlflow_dropped_total", f"0 {b.constant(5, longest)}", what="versions"),
        b.series(
            "mlflow_model_alias_version", b.constant(2, longest), model="boundary-model", alias="champion"
        ),
        b.series(
            "mlflow_model_version_info",
            b.constant(1, longest),
            model="boundary-model",
            version="2",
            status="FAILED_REGISTRATION",
            stage="None",
        ),
    ]
    dropped = f"{prefix}RegistryItemsDropped"
    checks = [
        *b.across_for(f"{prefix}RegistryUnreachable", r.unreachable_for, {"severity": "warning", **job}),
        b.check(f"{prefix}RegistrySnapshotStale", 0),
        b.check(f"{prefix}RegistrySnapshotStale", 60, {"severity": "warning", **job, "section": "registry"}),
        b.check(dropped, window, {"severity": "warning", **job, "what": "versions"}),
        b.check(dropped, window + 60),
        *b.across_for(
            f"{prefix}RegistryAliasNotReady",
            r.alias_not_ready_for,
            {
                "severity": "warning",
                "model": "boundary-model",
                "alias": "champion",
                "version": "2",
                "status": "FAILED_REGISTRATION",
            },
        ),
    ]
    cases.append({"interval": "1m", "input_series": series, "alert_rule_test": checks})
    return cases


def _exporters(b: _Builder, prefix: str) -> list[Case]:
    cfg, x = b.cfg, b.cfg.exporters
    jobs = exporters.jobs(cfg)
    absent = [b.series("up", b.constant(1, _seconds(x.absent_for)), job="prometheus")]
    cases = [
        {
            "interval": "1m",
            "input_series": absent,
            "alert_rule_test": b.across_for(
                f"{prefix}ExporterAbsent",
                x.absent_for,
                *({"severity": "critical", b.job_label: j} for j in jobs),
            ),
        }
    ]
    n, ratio = 20, x.targets_down_ratio
    longest = max(
        _seconds(x.targets_down_for), _seconds(x.collector_failing_for), _seconds(x.discovery_failing_for)
    )
    down = {cfg.exporter.gpu_job: math.ceil(ratio * n), cfg.exporter.cluster_job: math.ceil(ratio * n) - 1}
    node = cfg.naming.node_label
    series = [
        b.series("up", b.constant(0 if i < count else 1, longest), job=job, instance=f"10.0.{j}.{i}:9847")
        for j, (job, count) in enumerate(down.items())
        for i in range(n)
    ]
    gpu = {b.job_label: cfg.exporter.gpu_job, "instance": "10.0.9.1:9847", node: "gpu-node-1"}
    discovery = {**gpu, b.job_label: cfg.serving.job}
    series += [
        b.series("mlobs_collector_success", b.constant(0, longest), **gpu, collector="gpu"),
        b.series("tfserving_kubernetes_discovery_success", b.constant(0, longest), **discovery),
    ]
    checks = [
        *b.across_for(
            f"{prefix}ExporterTargetsDown",
            x.targets_down_for,
            {"severity": "warning", b.job_label: cfg.exporter.gpu_job},
        ),
        *b.across_for(
            f"{prefix}ExporterCollectorFailing",
            x.collector_failing_for,
            {"severity": "warning", **gpu, "collector": "gpu"},
        ),
        *b.across_for(
            f"{prefix}ServingDiscoveryFailing",
            x.discovery_failing_for,
            {"severity": "warning", **discovery},
        ),
    ]
    cases.append({"interval": "1m", "input_series": series, "alert_rule_test": checks})
    return cases


def cases(cfg: BundleConfig) -> list[Case]:
    """promtool test groups for every model, training, registry and exporter alert of `cfg`."""
    b, prefix = _Builder(cfg), cfg.naming.alert_prefix
    return [
        *_drift(b, prefix),
        *_features(b, prefix),
        *_quality(b, prefix),
        *_monitoring(b, prefix),
        *_training(b, prefix),
        *_registry(b, prefix),
        *_exporters(b, prefix),
    ]


def boundary_file(cfg: BundleConfig, rule_file: str = "rules.yaml") -> dict[str, Any]:
    """A promtool test file of `cases(cfg)` for `rule_file` (the same config's rules without annotations)."""
    return {"rule_files": [rule_file], "evaluation_interval": "1m", "tests": cases(cfg)}

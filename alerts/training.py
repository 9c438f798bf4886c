"""Training pipeline alerts from the exporter's view of MLflow training experiments: the share of runs that
succeed, and experiments that have not produced a successful run for too long."""

from __future__ import annotations

import math

from alerts import records
from alerts.boundary import Boundary, Series, steady
from alerts.mlflow_boundary import MlflowSite, seconds
from alerts.model import Alert, Group, Record
from alerts.selectors import cluster_metrics
from bundle.promql import Metrics, Re
from bundle.schema import BundleConfig, duration_seconds

GROUP = "mlobs-training"


def ended_statuses(cfg: BundleConfig) -> tuple[str, ...]:
    """Statuses of the ended runs the success ratio counts: KILLED only when it counts as a failure."""
    return ("FINISHED", "FAILED", "KILLED") if cfg.training.killed_is_failure else ("FINISHED", "FAILED")


def no_success_for(cfg: BundleConfig, experiment: str) -> str:
    """How long `experiment` may go without a successful run (training.experiments overrides the default)."""
    return str(
        cfg.training.experiments.get(experiment, {}).get("no_success_for", cfg.training.no_success_for)
    )


def _ended_runs(cfg: BundleConfig, m: Metrics) -> str:
    runs = m("mlflow_training_runs", window=cfg.training.window, status=Re.any_of(ended_statuses(cfg)))
    return f"sum by ({m.by('mlflow_training_runs', 'experiment')}) ({runs})"


def _no_success(cfg: BundleConfig, m: Metrics) -> str:
    last = "mlflow_training_last_success_timestamp_seconds"
    by = m.by(last, "experiment")
    overridden = sorted(cfg.training.experiments)
    others = {"experiment": Re.literal(overridden, negate=True)} if overridden else {}
    terms = [(m(last, **others), cfg.training.no_success_for)]
    terms += [(m(last, experiment=e), no_success_for(cfg, e)) for e in overridden]
    return "\nor\n".join(
        f"time() - max by ({by}) ({selector}) > {duration_seconds(limit):g}" for selector, limit in terms
    )


def groups(cfg: BundleConfig) -> list[Group]:
    t = cfg.training
    m = cluster_metrics(cfg)
    prefix = f"{cfg.naming.alert_prefix}Training"
    by = m.by("mlflow_training_runs", "experiment")
    finished = m("mlflow_training_runs", window=t.window, status="FINISHED")
    failures = " and ".join(s for s in ended_statuses(cfg) if s != "FINISHED")
    rules = (
        Record(
            records.training_success_ratio(),
            f"sum by ({by}) ({finished})\n/\n({_ended_runs(cfg, m)} > 0)",
        ),
        Alert(
            f"{prefix}SuccessRatioLow",
            f"{records.training_success_ratio()} < {t.success_ratio_target:g}\n"
            f"and on ({by})\n{_ended_runs(cfg, m)} >= {t.min_runs}",
            "warning",
            "Too few training runs of an experiment succeed.",
            f"Only {{{{ $value | humanizePercentage }}}} of the ended runs of experiment "
            f"{{{{ $labels.experiment }}}} in the last {t.window} finished "
            f"(target {t.success_ratio_target:.0%}; {failures} count as failures); look at the failed runs' "
            "logs in MLflow.",
            for_=t.success_ratio_for,
        ),
        Alert(
            f"{prefix}NoRecentSuccess",
            _no_success(cfg, m),
            "warning",
            "A training experiment has not produced a successful run for too long.",
            "Experiment {{ $labels.experiment }} has had no FINISHED run for "
            "{{ $value | humanizeDuration }}; the models it trains are getting old.",
        ),
    )
    return [Group(GROUP, rules, dashboard_uid=cfg.dashboards.models_uid)]


def boundaries(cfg: BundleConfig) -> list[Boundary]:
    """The success ratio just under its target and on it, the minimum of runs and one run fewer, KILLED runs
    that are no failures; each experiment's last success just older than its limit and exactly that old."""
    site, t = MlflowSite(cfg), cfg.training
    name, hold = site.name("TrainingSuccessRatioLow"), t.success_ratio_for
    experiment = "boundary-default-experiment"
    failure = "KILLED" if t.killed_is_failure else "FAILED"
    n = max(t.min_runs, 20)
    finished = math.ceil(t.success_ratio_target * n)

    def runs(**counts: int) -> list[Series]:
        return [
            steady(
                "mlflow_training_runs",
                site.target(experiment=experiment, status=status, window=t.window),
                count,
                hold,
            )
            for status, count in counts.items()
        ]

    labels = site.alert("warning", experiment=experiment)
    below = {"FINISHED": finished - 1, failure: n - finished + 1}
    too_few = runs(FINISHED=0, **{failure: t.min_runs - 1})
    out = [
        Boundary(name, labels, hold, runs(**below), runs(FINISHED=finished, **{failure: n - finished}), "0m"),
        Boundary(name, labels, hold, runs(FINISHED=0, **{failure: t.min_runs}), too_few, "0m"),
    ]
    if not t.killed_is_failure:  # the same runs killed instead of failed change nothing
        killed = runs(FINISHED=finished - 1, KILLED=n - finished + 1)
        out.append(Boundary(name, labels, hold, runs(**below), killed, "0m"))
    for each in (experiment, *sorted(t.experiments)):
        limit = seconds(no_success_for(cfg, each))
        last = site.target(experiment=each)
        # Judged at 1m: a success at 60 - limit is exactly `limit` old then.
        out.append(
            Boundary(
                site.name("TrainingNoRecentSuccess"),
                site.alert("warning", experiment=each),
                "",
                [steady("mlflow_training_last_success_timestamp_seconds", last, 60 - limit - 1, "")],
                [steady("mlflow_training_last_success_timestamp_seconds", last, 60 - limit, "")],
            )
        )
    return out

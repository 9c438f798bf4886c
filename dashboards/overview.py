"""`ml-overview`: the landing page. The platform's four targets first, then what is burning, firing or
drifting, and a GPU summary; every detail is one link away on the sibling dashboards."""

from __future__ import annotations

from typing import Any

from alerts import records
from bundle.promql import Re
from bundle.schema import BundleConfig
from dashboards import gpu_fleet
from dashboards.gpu_fleet import STAT_HEIGHT, FleetQueries
from dashboards.scope import board, cluster_variables, grouping, mlflow_metrics, selector
from dashboards.style import Query, Section, query_variable, stat, states, steps, timeseries

# Alerts (by name after naming.alert_prefix) that mean a model is drifted or degraded, and those that mean
# serving and the registry disagree.
DEGRADED = ("ModelDriftWarning", "ModelDriftCritical", "ModelFeaturesDrifted", "ModelQualityDegraded")
DISAGREEMENT = ("ServingRegistryMismatch", "RegistryAliasNotReady")


def alerts_firing(cfg: BundleConfig, *names: str) -> str:
    """ALERTS firing now, of the bundle's alerts (all of them, or the named ones)."""
    prefix = cfg.naming.alert_prefix
    pattern = "|".join(f"{prefix}{name}" for name in names) if names else f"{prefix}.+"
    return selector(cfg, "ALERTS", alertstate="firing", alertname=Re(pattern))


def targets(cfg: BundleConfig) -> Section:
    """The platform's four targets, each against the config key the alerts use."""
    s, t, r = cfg.serving, cfg.training, cfg.registry
    runs = mlflow_metrics(cfg)
    ended = "FINISHED|FAILED|KILLED" if t.killed_is_failure else "FINISHED|FAILED"
    fleet = FleetQueries(cfg)
    by = grouping(cfg)

    def training_runs(status: str) -> str:
        return f"sum by ({by}) ({runs('mlflow_training_runs', window=t.window, status=Re(status))})"

    def target(title: str, description: str, unit: str, query: Query, thresholds: Any) -> Any:
        return stat(title, description, unit, query, thresholds=thresholds, width=6, height=STAT_HEIGHT)

    return Section(
        "Platform targets",
        (
            target(
                "Serving latency P95 (worst model)",
                f"The slowest model's P95 latency (recorded over {s.rate_window}) against the target of "
                f"{s.latency_p95_target_seconds * 1000:g} ms (serving.latency_p95_target_seconds).",
                "s",
                Query(
                    f"max by ({by}) "
                    f"({selector(cfg, records.latency_quantile('model', 0.95, s.rate_window))})",
                    "worst P95",
                ),
                steps("green", (s.latency_p95_target_seconds, "red")),
            ),
            target(
                "Training success ratio",
                f"FINISHED runs over ended runs of every experiment in the last {t.window}, against the "
                f"target of {t.success_ratio_target:.0%} (training.success_ratio_target).",
                "percentunit",
                Query(f"{training_runs('FINISHED')}\n/\n{training_runs(ended)}", "success ratio"),
                steps("red", (t.success_ratio_target, "green")),
            ),
            target(
                "Registry availability",
                f"Share of MLflow requests the registry answered over the SLO period ({cfg.slo.period}), "
                f"against the objective of {r.availability_objective:.1%} (registry.availability_objective).",
                "percentunit",
                Query(f"1 - {selector(cfg, records.registry_error_ratio(cfg.slo.period))}", "availability"),
                steps("red", (r.availability_objective, "green")),
            ),
            target(
                "Allocated GPU utilization",
                "Average busy share of the GPUs a training job holds (allocated, serving no model), against "
                f"the {cfg.gpu.utilization_target_low:.0%}-{cfg.gpu.utilization_target_high:.0%} band "
                "(gpu.utilization_target_low/high).",
                "percentunit",
                Query(f"avg({fleet.training_busy()})", "busy"),
                gpu_fleet.gpu.band(cfg),
            ),
        ),
    )


def attention(cfg: BundleConfig) -> Section:
    """What needs a person now: spent budgets, firing alerts, degraded models, disagreements."""
    budget = steps("red", (0, "orange"), (0.25, "green"))
    model = "{{namespace}}/{{model}}"
    versions, models = grouping(cfg, "model", "version"), grouping(cfg, "model")
    mlflow = mlflow_metrics(cfg)
    return Section(
        "Needs attention",
        (
            stat(
                "SLO error budget remaining",
                f"Share of each model's availability and latency error budget left over the SLO period "
                f"({cfg.slo.period}); at 0 it is spent.",
                "percentunit",
                *(
                    Query(selector(cfg, records.slo_budget_remaining(sli)), f"{model} {sli}")
                    for sli in ("availability", "latency")
                ),
                thresholds=budget,
            ),
            stat(
                "Firing alerts by severity",
                "The bundle's alerts firing now, by severity.",
                "short",
                Query(
                    f"sum by ({grouping(cfg, 'severity')}) ({alerts_firing(cfg)}) or vector(0)",
                    "{{severity}}",
                ),
                thresholds=steps("green", (1, "orange")),
            ),
            states(
                "Models drifted or degraded",
                "Drift and quality alerts firing per monitored model version (0: none; open Models and "
                "quality for the rest).",
                {"0": ("ok", "green")},
                # Each monitored side grouped by version before the `or`: an `or` of every drift and quality
                # series at every step took over a second over 6 h at 200 models.
                Query(
                    f"count by ({versions}) ({alerts_firing(cfg, *DEGRADED)})\nor\n0 * (\n"
                    f"group by ({versions}) ({mlflow('mlflow_model_drift_timestamp_seconds')})\nor\n"
                    f"group by ({versions}) ({mlflow('mlflow_model_quality_timestamp_seconds')})\n)",
                    "{{model}} v{{version}}",
                ),
                thresholds=steps("green", (1, "red")),
            ),
            states(
                "Serving and registry disagree",
                "Alerts firing per model with a serving alias: the served version is not the registry's "
                f"{cfg.serving.registry_alias!r} alias, or that alias points at a version that is not READY "
                "(0: they agree).",
                {"0": ("agree", "green")},
                Query(
                    f"count by ({models}) ({alerts_firing(cfg, *DISAGREEMENT)})\nor\n0 * group by ({models}) "
                    f"({mlflow('mlflow_model_alias_version', alias=cfg.serving.registry_alias)})",
                    "{{model}}",
                ),
                thresholds=steps("green", (1, "orange")),
            ),
        ),
    )


def gpus(cfg: BundleConfig) -> Section:
    fleet = gpu_fleet.summary(cfg)
    busy = FleetQueries(cfg)
    return Section(
        "GPUs",
        (
            *fleet.panels,
            timeseries(
                "Allocated GPU busy ratio by node",
                "Average busy share of the GPUs a job holds, per node: details on GPU fleet and GPU node.",
                "percentunit",
                Query(
                    f"avg by ({busy.m.by('nvidia_gpu_info', busy.node)}) ({busy.allocated_busy()})",
                    f"{{{{{busy.node}}}}}",
                ),
                thresholds=gpu_fleet.gpu.band(cfg),
                shade_thresholds=True,
                width=24,
            ),
        ),
    )


def build(cfg: BundleConfig) -> dict[str, Any]:
    d = cfg.dashboards
    m = gpu_fleet.gpu.metrics(cfg)
    node = cfg.naming.node_label
    return board(
        cfg,
        uid=d.overview_uid,
        title=d.overview_title,
        description="The ML platform's four targets (serving latency, training success, registry "
        "availability, GPU utilization), what is burning, firing or drifting, and a GPU summary, with links "
        "to every detailed dashboard.",
        variables=[
            *cluster_variables(cfg, m, "mlobs_build_info"),
            query_variable("node", "Node", f"label_values({m('nvidia_gpu_info')}, {node})"),
        ],
        sections=[targets(cfg), attention(cfg), gpus(cfg)],
    )

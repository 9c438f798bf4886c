"""The registry's health as the exporter sees it (the last row of Models and quality): availability against
its objective, MLflow request latency and errors, and the freshness of what the exporter serves."""

from __future__ import annotations

from alerts import records
from bundle.promql import Re
from bundle.schema import BundleConfig, duration_seconds
from dashboards.scope import grouping, mlflow_metrics, selector
from dashboards.style import UP, Query, Section, rate, states, steps, timeseries

# Failed requests that are the registry's fault: the availability SLI (docs/metrics.md, mlflow).
REGISTRY_FAULTS = ("connection", "timeout", "tls", "server_error", "malformed")


def availability(cfg: BundleConfig) -> str:
    """Share of the exporter's MLflow requests the registry answered, over the dashboard's interval."""
    m = mlflow_metrics(cfg)
    by = grouping(cfg)
    failed = rate(m("mlflow_request_errors_total", kind=Re.any_of(REGISTRY_FAULTS)))
    total = rate(m("mlflow_requests_total"))
    return f"1 - (\n(sum by ({by}) ({failed}) or sum by ({by}) ({total}) * 0)\n/\nsum by ({by}) ({total})\n)"


def section(cfg: BundleConfig) -> Section:
    m = mlflow_metrics(cfg)
    r = cfg.registry
    objective = steps("red", (r.availability_objective, "green"))
    endpoint = m.by("mlflow_request_duration_seconds", "endpoint", "le")
    buckets = m.histogram("mlflow_request_duration_seconds", "bucket")
    called = m.by("mlflow_request_duration_seconds", "endpoint")
    calls = m.histogram("mlflow_request_duration_seconds", "count")
    return Section(
        "Registry health",
        (
            timeseries(
                "Registry availability",
                "Share of the exporter's MLflow requests not failed by the registry (connection, timeout, "
                "TLS, server errors, malformed answers), against the objective of "
                f"{r.availability_objective:.1%} "
                "(registry.availability_objective): per interval, and over the SLO period "
                f"({cfg.slo.period}) from the recording rule.",
                "percentunit",
                Query(availability(cfg), "per interval"),
                Query(f"1 - {selector(cfg, records.registry_error_ratio(cfg.slo.period))}", cfg.slo.period),
                thresholds=objective,
                shade_thresholds=True,
                width=8,
            ),
            timeseries(
                "Registry error budget remaining",
                f"Share of the registry availability SLO's error budget left over {cfg.slo.period}.",
                "percentunit",
                Query(selector(cfg, records.registry_budget_remaining()), "budget left"),
                thresholds=steps("red", (0, "orange"), (0.25, "green")),
                width=8,
            ),
            states(
                "MLflow reachable",
                "Whether the exporter's last refresh read every section of MLflow without error.",
                UP,
                Query(m("mlflow_up"), "MLflow"),
                width=8,
            ),
            timeseries(
                "MLflow request latency P95",
                "95th percentile duration of the exporter's MLflow REST requests by endpoint, failed ones "
                "included.",
                "s",
                # Only endpoints called in the interval: an idle one's quantile is NaN (0/0).
                Query(
                    f"histogram_quantile(0.95, sum by ({endpoint}) ({rate(buckets)}))\n"
                    f"and on ({called}) (sum by ({called}) ({rate(calls)}) > 0)",
                    "{{endpoint}}",
                ),
                width=8,
            ),
            timeseries(
                "MLflow request errors",
                "Failed MLflow requests per second by kind: connection, timeout, tls, server_error and "
                "malformed are the registry's fault; unauthorized, forbidden, not_found, client_error and "
                "pagination are the exporter's configuration or the server's data.",
                "reqps",
                Query(
                    f"sum by ({m.by('mlflow_request_errors_total', 'kind')}) "
                    f"({rate(m('mlflow_request_errors_total'))})",
                    "{{kind}}",
                ),
                width=8,
            ),
            timeseries(
                "Snapshot age",
                "Age of the data the exporter serves per section (registry, baseline, training, monitoring); "
                f"past {r.snapshot_stale_after} (registry.snapshot_stale_after) it is stale.",
                "s",
                Query(m("mlflow_snapshot_age_seconds"), "{{section}}"),
                thresholds=steps("green", (duration_seconds(r.snapshot_stale_after), "red")),
                width=8,
            ),
            timeseries(
                "Items dropped by caps",
                "Models, versions or monitored series left out of a refresh by a cap, per second: above 0 "
                "means a cap is cutting now.",
                "ops",
                Query(rate(m("mlflow_dropped_total")), "{{what}}"),
            ),
            timeseries(
                "Refresh duration",
                "Wall time of the exporter's last refresh of all MLflow sections.",
                "s",
                Query(m("mlflow_refresh_duration_seconds"), "refresh"),
            ),
        ),
    )

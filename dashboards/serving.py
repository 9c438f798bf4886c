"""Model serving: per model and version, traffic, errors, latency, versions and their states, and a
version-by-version comparison. SLO burn, target health and the GPUs under the serving pods are in
`dashboards.serving_health`. The serving and SLO alerts link here.

Rates, error ratios and latency quantiles read the recording rules of alerts/records.py (recorded over
serving.rate_window); what no rule records (errors by status, the heatmap, batch queuing) is computed here.
"""

from __future__ import annotations

from typing import Any

from alerts import panels, records
from bundle.promql import Re
from bundle.schema import BundleConfig
from dashboards import serving_health
from dashboards.scope import Scoped, board, cluster_variables, selector, serving_metrics
from dashboards.serving_health import divided_per_model
from dashboards.style import (
    ALL_OR_ABSENT,
    Panel,
    Query,
    Section,
    increase,
    query_variable,
    rate,
    states,
    steps,
    timeseries,
)

STATE_COLOURS = ("red", "blue", "blue", "green", "orange", "grey")
MODEL = "{{namespace}}/{{model}}"
VERSION = "{{namespace}}/{{model}} v{{version}}"


class ServingQueries:
    """Selectors of TF Serving series and serving records in the dashboard's namespace, model and version."""

    def __init__(self, cfg: BundleConfig) -> None:
        self.cfg = cfg
        self.m: Scoped = serving_metrics(cfg)
        self.window = cfg.serving.rate_window

    def models(self, versions: bool = False) -> dict[str, str | Re]:
        scope: dict[str, str | Re] = {"namespace": Re("$namespace"), "model": Re("$model")}
        return {**scope, "version": Re("$version")} if versions else scope

    def __call__(self, name: str, versions: bool = False, **matchers: str | Re) -> str:
        return self.m(name, **self.models(versions), **matchers)

    def record(self, name: str, versions: bool = False) -> str:
        return selector(self.cfg, name, **self.models(versions))

    def by(self, name: str, *labels: str) -> str:
        return self.m.by(name, "namespace", "model", *labels)


def latency_target(cfg: BundleConfig) -> list[dict[str, Any]]:
    return steps("green", (cfg.serving.latency_p95_target_seconds, "red"))


def traffic(cfg: BundleConfig) -> Section:
    q = ServingQueries(cfg)
    s = cfg.serving
    requests = "tfserving_requests_total"
    non_ok = q(requests, versions=True, status=Re("|".join(("OK", *s.client_error_codes)), negate=True))
    return Section(
        "Traffic and errors",
        (
            timeseries(
                "Request rate",
                f"Requests per second per model, all statuses (recorded over {q.window}).",
                "reqps",
                Query(q.record(records.request_rate("model", q.window)), MODEL),
                width=8,
            ),
            timeseries(
                "Errors by status",
                "Requests per second that ended in a server-side error, by TF status code. Client mistakes "
                f"(serving.client_error_codes: {', '.join(s.client_error_codes)}) are left out, as in the "
                "error ratio.",
                "reqps",
                Query(
                    f"sum by ({q.by(requests, 'version', 'status')}) ({rate(non_ok)})",
                    f"{VERSION} {{{{status}}}}",
                ),
                width=8,
            ),
            timeseries(
                "Error ratio",
                f"Share of requests that are server-side errors (recorded over {q.window}); the line is the "
                f"{s.error_ratio_warning:.0%} that opens a ticket (serving.error_ratio_warning).",
                "percentunit",
                Query(q.record(records.error_ratio("model", q.window)), MODEL),
                thresholds=steps("green", (s.error_ratio_warning, "red")),
                shade_thresholds=True,
                width=8,
            ),
        ),
    )


def latency(cfg: BundleConfig) -> Section:
    q = ServingQueries(cfg)
    target = cfg.serving.latency_p95_target_seconds
    queuing = q.m.histogram("tfserving_batch_queuing_duration_seconds", "bucket", namespace=Re("$namespace"))
    by_pool = q.m.by("tfserving_batch_queuing_duration_seconds", "namespace", "pod", "thread_pool", "le")
    return Section(
        "Latency",
        (
            timeseries(
                "Latency P50, P95 and P99",
                f"Latency quantiles of successful requests per model (recorded over {q.window}); the line "
                f"is the P95 target of {target * 1000:g} ms (serving.latency_p95_target_seconds).",
                "s",
                *(
                    Query(q.record(records.latency_quantile("model", quantile, q.window)), f"{MODEL} p{p}")
                    for quantile, p in zip(records.QUANTILES, (50, 95, 99), strict=True)
                ),
                thresholds=latency_target(cfg),
                shade_thresholds=True,
            ),
            timeseries(
                "P95 latency against each model's target",
                "Each model's P95 latency divided by its own target: serving.latency_p95_target_seconds, or "
                "the model's in models.overrides. Above 1 (100%) the model misses its target.",
                "percentunit",
                Query(
                    divided_per_model(
                        cfg,
                        records.latency_quantile("model", 0.95, q.window),
                        "serving",
                        "latency_p95_target_seconds",
                    ),
                    MODEL,
                ),
                thresholds=steps("green", (1, "red")),
                shade_thresholds=True,
            ),
            Panel(
                "heatmap",
                "Latency heatmap",
                "Successful requests per second in each latency bucket of TF Serving's histogram, for the "
                "chosen models and versions: a second band means a slow path (a cold version, a bad batch).",
                "s",
                # Recorded per version (alerts/records.py): every pod's raw buckets took seconds at All.
                (
                    Query(
                        f"sum by (le) ({q.record(records.latency_bucket_rate(q.window), versions=True)})",
                        "{{le}}",
                        format="heatmap",
                    ),
                ),
                width=8,
            ),
            timeseries(
                "Model runtime P95",
                "95th percentile of the time spent in the model runtime per request, per version and runtime "
                "(TF1, TFRT): the part of the latency the model itself costs.",
                "s",
                # Recorded: from raw buckets this was the slowest panel of a fleet (docs/scale.md).
                Query(q.record(panels.runtime_p95_record(cfg), versions=True), f"{VERSION} {{{{runtime}}}}"),
                width=8,
            ),
            timeseries(
                "Batch queuing P95",
                "95th percentile of the time requests waited in the batching queue, per pod and thread pool "
                "(batching is per server, not per model).",
                "s",
                Query(
                    f"histogram_quantile(0.95, sum by ({by_pool}) ({rate(queuing)}))",
                    "{{namespace}}/{{pod}} {{thread_pool}}",
                ),
                width=8,
            ),
        ),
    )


def versions(cfg: BundleConfig) -> Section:
    q = ServingQueries(cfg)
    mapping = {
        str(code): (name, colour)
        for code, (name, colour) in enumerate(zip(panels.VERSION_STATES, STATE_COLOURS, strict=True), 1)
    }
    failed = q("tfserving_model_load_attempts_total", versions=True, status="fail")
    errors = q("tfserving_model_load_error_info", versions=True)
    return Section(
        "Versions",
        (
            states(
                "Version states",
                "State of each model version on each serving pod (the newest 16 per model): LOADING and "
                "UNLOADING during a rollout, END after unloading or a failed load.",
                mapping,
                # Recorded (alerts/panels.py): every state of every version, coded at every step.
                Query(q.record(panels.version_state_record(), versions=True), f"{VERSION} on {{{{pod}}}}"),
                width=24,
            ),
            timeseries(
                "Available versions",
                "AVAILABLE versions of each model on each pod: 0 means the model serves nothing there; 2 or "
                "more, a rollout in progress.",
                "short",
                Query(q("tfserving_model_available_versions"), f"{MODEL} on {{{{pod}}}}"),
                thresholds=steps("red", (1, "green"), (2, "blue")),
            ),
            timeseries(
                "Load failures",
                "Failed SavedModel loads per interval, and versions whose status carries an error (by error "
                "code; the message is on the series).",
                "short",
                Query(
                    f"sum by ({q.by('tfserving_model_load_attempts_total', 'version')}) ({increase(failed)})",
                    f"{VERSION} failed loads",
                ),
                Query(
                    f"count by ({q.by('tfserving_model_load_error_info', 'version', 'error_code')}) "
                    f"({errors})",
                    f"{VERSION} {{{{error_code}}}}",
                ),
            ),
        ),
    )


def comparison(cfg: BundleConfig) -> Section:
    q = ServingQueries(cfg)
    s = cfg.serving
    return Section(
        "Version comparison",
        (
            timeseries(
                "P95 latency by version",
                "P95 latency of each version side by side (recorded over the serving window): during a "
                "rollout, the new version against the old. TF Serving counts per model, so compare rates, "
                "never totals.",
                "s",
                Query(
                    q.record(records.latency_quantile("model_version", 0.95, q.window), versions=True),
                    VERSION,
                ),
                thresholds=latency_target(cfg),
                shade_thresholds=True,
                width=8,
            ),
            timeseries(
                "Error ratio by version",
                "Server-side error ratio of each version side by side; the line is "
                "serving.error_ratio_warning.",
                "percentunit",
                Query(q.record(records.error_ratio("model_version", q.window), versions=True), VERSION),
                thresholds=steps("green", (s.error_ratio_warning, "red")),
                shade_thresholds=True,
                width=8,
            ),
            timeseries(
                "Request rate by version",
                "Requests per second each version serves: how far a rollout has shifted traffic.",
                "reqps",
                Query(q.record(records.request_rate("model_version", q.window), versions=True), VERSION),
                width=8,
            ),
        ),
    )


def build(cfg: BundleConfig) -> dict[str, Any]:
    d = cfg.dashboards
    m = serving_metrics(cfg)
    known = "tfserving_model_available_versions"
    models = m(known, namespace=Re("$namespace"))
    model_versions = m("tfserving_model_version_state", namespace=Re("$namespace"), model=Re("$model"))
    return board(
        cfg,
        uid=d.serving_uid,
        title="Model serving",
        description="TF Serving per model and version: traffic, errors, latency against the P95 target, "
        "versions and rollouts, SLO burn, target health and the GPUs under the serving pods.",
        variables=[
            *cluster_variables(cfg, m, known),
            query_variable("namespace", "Namespace", f"label_values({m(known)}, namespace)", ALL_OR_ABSENT),
            query_variable("model", "Model", f"label_values({models}, model)"),
            query_variable("version", "Version", f"label_values({model_versions}, version)", ALL_OR_ABSENT),
        ],
        sections=[
            traffic(cfg),
            latency(cfg),
            versions(cfg),
            comparison(cfg),
            *serving_health.sections(cfg),
        ],
    )

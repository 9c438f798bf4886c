"""Serving alerts over TF Serving series: recorded rates, error ratios and latency quantiles per model and per
model version, and the alerts on latency, errors, traffic, model versions, targets and the registry.

P95 latency is interpolated by histogram_quantile between TF Serving's bucket bounds (10 us x 1.8^n: the
100 ms target lies between 67.47 ms and 121.44 ms), so the latency alert is approximate near its target; the
latency SLO (alerts/slo.py) counts requests under a real bound and is exact.
"""

from __future__ import annotations

from alerts import records
from alerts.boundary import Boundary
from alerts.model import Alert, Group, Record, Rule
from alerts.per_model import Scope, scopes, split_groups
from alerts.selectors import job_metrics
from alerts.serving_boundary import serving_boundaries
from alerts.serving_sli import MODEL, MODEL_VERSION, ServingSli
from bundle.latency_bounds import describe, neighbours
from bundle.promql import Re, join_labels, selector
from bundle.schema import BundleConfig

RECORDS_GROUP = "mlobs-serving-records"
GROUP = "mlobs-serving"
WHERE = "Model {{ $labels.model }} in namespace {{ $labels.namespace }}"


def groups(cfg: BundleConfig) -> list[Group]:
    uid = cfg.dashboards.serving_uid
    return [
        *_records(cfg),
        *split_groups(GROUP, _alerts(cfg), uid),
    ]


def boundaries(cfg: BundleConfig) -> list[Boundary]:
    return serving_boundaries(cfg)


def _records(cfg: BundleConfig) -> list[Group]:
    """Traffic and errors in one group; each latency quantile of each level, and the bucket rates the heatmap
    reads, a group each: every quantile reads every pod's buckets, and one group of a level's three took over
    a second on a 2-core fleet benchmark (docs/scale.md). Groups are evaluated concurrently."""
    sli, window, uid = ServingSli.of(cfg), cfg.serving.rate_window, cfg.dashboards.serving_uid
    levels: tuple[tuple[records.ServingLevel, tuple[str, ...]], ...] = (
        ("model", MODEL),
        ("model_version", MODEL_VERSION),
    )
    traffic = [
        Record(name(level, window), expr(window, labels))
        for level, labels in levels
        for name, expr in ((records.request_rate, sli.traffic), (records.error_ratio, sli.error_ratio))
    ]
    latency = [
        Group(
            f"{GROUP}-latency-{level.removeprefix('model_')}-p{q * 100:g}",
            (Record(records.latency_quantile(level, q, window), sli.latency_quantile(q, window, labels)),),
            dashboard_uid=uid,
        )
        for level, labels in levels
        for q in records.QUANTILES
    ]
    buckets = Record(records.latency_bucket_rate(window), sli.latency_buckets(window))
    return [
        Group(RECORDS_GROUP, tuple(traffic), dashboard_uid=uid),
        *latency,
        Group(f"{GROUP}-latency-buckets", (buckets,), dashboard_uid=uid),
    ]


def _busy(cfg: BundleConfig, scope: Scope, min_rate: float) -> str:
    """Models serving at least `min_rate` requests per second (ratios of a few requests are noise)."""
    return f"{selector(records.request_rate('model', cfg.serving.rate_window), **scope)} >= {min_rate:g}"


def _alerts(cfg: BundleConfig) -> list[Rule]:
    s, prefix, w = cfg.serving, f"{cfg.naming.alert_prefix}Serving", cfg.serving.rate_window
    rules: list[Rule] = []
    for scope, (target, min_rate) in scopes(
        cfg, ("serving", "latency_p95_target_seconds"), ("serving", "min_request_rate")
    ):
        below, above = neighbours(target)
        between = " and ".join(describe(b) for b in (below, above) if b is not None)
        rules.append(
            Alert(
                f"{prefix}LatencyHigh",
                f"{selector(records.latency_quantile('model', 0.95, w), **scope)} > {target:g}\n"
                f"and\n{_busy(cfg, scope, min_rate)}",
                "warning",
                "A model's P95 serving latency is above its target.",
                f"{WHERE} answers with a P95 latency of {{{{ $value | humanizeDuration }}}} over {w}, "
                f"above its {describe(target)} target for {s.latency_for}. The value is interpolated "
                f"between TF Serving's bucket bounds ({between}).",
                for_=s.latency_for,
            )
        )
    for scope, (ratio, min_rate) in scopes(
        cfg, ("serving", "error_ratio_warning"), ("serving", "min_request_rate")
    ):
        rules.append(
            Alert(
                f"{prefix}ErrorRatioHigh",
                f"{selector(records.error_ratio('model', w), **scope)} > {ratio:g}\n"
                f"and\n{_busy(cfg, scope, min_rate)}",
                "warning",
                "A model answers too many requests with server errors.",
                f"{WHERE} failed {{{{ $value | humanizePercentage }}}} of its requests over {w} for "
                f"{s.error_ratio_for} (threshold {ratio * 100:g}%; client mistakes such as "
                "INVALID_ARGUMENT do not count).",
                for_=s.error_ratio_for,
            )
        )
    rate = records.request_rate("model", w)
    for scope, (drop, min_rate) in scopes(
        cfg, ("serving", "traffic_drop_ratio"), ("serving", "min_request_rate")
    ):
        now, before = selector(rate, **scope), f"{selector(rate, **scope)} offset {s.traffic_drop_offset}"
        rules.append(
            Alert(
                f"{prefix}TrafficDropped",
                f"{now} < {drop:g} * {before}\nand\n{before} >= {min_rate:g}",
                "warning",
                "A model's traffic dropped sharply against the same time earlier.",
                f"{WHERE} serves {{{{ $value | humanize }}}} requests/s, less than {drop:.0%} of its rate "
                f"{s.traffic_drop_offset} earlier, for {s.traffic_drop_for}: check its clients and routing.",
                for_=s.traffic_drop_for,
            )
        )
    rules += _state_alerts(cfg, prefix)
    rules.append(_registry_mismatch(cfg, prefix))
    return rules


def _state_alerts(cfg: BundleConfig, prefix: str) -> list[Rule]:
    s, sli = cfg.serving, ServingSli.of(cfg)
    m, cluster = sli.m, cfg.naming.cluster_label
    node = f"{{{{ $labels.{cfg.naming.node_label} }}}}"
    return [
        Alert(
            f"{prefix}NoAvailableVersion",
            f"max by ({m.by('tfserving_model_available_versions', *MODEL)}) "
            f"({m('tfserving_model_available_versions')}) == 0",
            "critical",
            "A model has no AVAILABLE version: its requests fail.",
            f"{WHERE} has had no AVAILABLE version on any TF Serving target for "
            f"{s.no_available_version_for}; every request to it fails.",
            for_=s.no_available_version_for,
        ),
        Alert(
            f"{prefix}VersionLoadFailed",
            f"max by ({join_labels(cluster, *MODEL_VERSION, 'error_code')}) "
            f"({m('tfserving_model_load_error_info')})",
            "warning",
            "A model version failed to load.",
            f"{WHERE}: version {{{{ $labels.version }}}} failed to load with {{{{ $labels.error_code }}}} "
            f"(for {s.load_failed_for}); the message is on tfserving_model_load_error_info.",
            for_=s.load_failed_for,
        ),
        Alert(
            f"{prefix}TargetDown",
            f"{m('tfserving_target_scrape_success')} == 0",
            "warning",
            "The exporter cannot read a TF Serving target.",
            f"The exporter on node {node} has not read TF Serving target {{{{ $labels.target }}}} "
            f"(pod {{{{ $labels.pod }}}}) for {s.target_down_for}: its models' serving series are missing.",
            for_=s.target_down_for,
        ),
    ]


def _registry_mismatch(cfg: BundleConfig, prefix: str) -> Alert:
    """The registry alias's version (MLflow names mapped to TF Serving's) is not AVAILABLE where served."""
    n, s = cfg.naming, cfg.serving
    sli = ServingSli.of(cfg)
    mlflow = job_metrics(cfg, cfg.exporter.cluster_job, "instance")
    alias = mlflow("mlflow_model_alias_version", alias=s.registry_alias)
    for mlflow_name, served_name in sorted(s.model_names.items()):
        alias = f'label_replace({alias}, "model", "{served_name}", "model", "{_anchored(mlflow_name)}")'
    model = join_labels(n.cluster_label, "model")
    wanted = f'count_values by ({model}) ("version", {alias})'
    where = sli.m.by("tfserving_model_available_versions", *MODEL)
    served = (
        f"{sli.m('tfserving_model_version_state', state='AVAILABLE')}\n"
        f"    and on ({join_labels(n.cluster_label, 'model', 'version')})\n    {wanted}"
    )
    return Alert(
        f"{prefix}RegistryMismatch",
        f"(\n  group by ({where}) ({sli.m('tfserving_model_available_versions')})\n"
        f"  unless on ({where})\n  (\n    {served}\n  )\n)\n"
        f"* on ({model}) group_left ()\nmax by ({model}) ({alias})",
        "warning",
        "TF Serving does not serve the version the registry's alias points to.",
        f"{WHERE} does not serve version {{{{ $value }}}}, which the registry alias {s.registry_alias} "
        f"points to, for longer than the {s.registry_rollout_window} rollout window.",
        for_=s.registry_rollout_window,
    )


def _anchored(name: str) -> str:
    """A model name as a label_replace regex (anchored by PromQL), its regex characters escaped."""
    return Re.literal((name,)).pattern.replace("\\", "\\\\")

"""Boundary specs of the serving and SLO alerts (alerts/boundary.py), from the config's thresholds, `for`
durations and per-model overrides: one crossing and one near miss per alert and per override scope.

Series carry the exporter's names and labels and the configured job, node and cluster labels.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial

from alerts.boundary import Boundary, Series, cluster, health_gauge, minutes_of
from alerts.per_model import scoped_models
from alerts.serving_sli import DURATION, REQUESTS
from bundle.latency_bounds import BOUNDS
from bundle.schema import BundleConfig

DEFAULT_MODEL = "mlobs-boundary"
SERVER_ERRORS = ("UNAVAILABLE", "INTERNAL", "UNKNOWN", "DEADLINE_EXCEEDED", "RESOURCE_EXHAUSTED", "DATA_LOSS")
ABOVE, BELOW = 1.01, 0.99


def _num(value: float) -> str:
    return f"{value:.12g}"


class _Site:
    """Series and alert labels as the site's config names them."""

    def __init__(self, cfg: BundleConfig) -> None:
        self.cfg = cfg
        self.cluster = cluster(cfg)

    def target(self, model: str, job: str = "") -> dict[str, str]:
        n = self.cfg.naming
        return {
            **self.cluster,
            n.job_label: job or self.cfg.serving.job,
            "instance": "10.0.0.1:9847",
            n.node_label: "gpu-node-1",
            "target": "http://10.1.0.5:8501",
            "namespace": "boundary",
            "pod": f"{model}-0",
            "model": model,
        }

    def alert(self, severity: str, model: str, **extra: str) -> dict[str, str]:
        return {"severity": severity, **self.cluster, "namespace": "boundary", "model": model, **extra}

    def prefix(self, area: str) -> str:
        return f"{self.cfg.naming.alert_prefix}{area}"


def _model(models: list[str]) -> str:
    return models[0] if models else DEFAULT_MODEL


def _length(for_: str, extra: int = 3) -> int:
    return minutes_of(for_) + extra


def _traffic(site: _Site, model: str, per_minute: float, errors: float, length: int) -> list[Series]:
    """Successful requests and server errors per minute, steady from 0."""
    labels = {**site.target(model), "api": "predict", "entrypoint": "GRPC"}
    out = [Series(f"{DURATION}_count", labels, f"0+{_num(per_minute)}x{length}")]
    code = next((c for c in SERVER_ERRORS if c not in site.cfg.serving.client_error_codes), "")
    if errors and code:
        out.append(
            Series(
                REQUESTS, {**site.target(model), "version": "1", "status": code}, f"0+{_num(errors)}x{length}"
            )
        )
    return out


def _latency(site: _Site, model: str, per_minute: float, p95: float, length: int) -> list[Series]:
    """A histogram of successful requests whose interpolated P95 is `p95`."""
    below = max(bound for _, bound in BOUNDS if bound < p95)
    le_above, above = next((text, bound) for text, bound in BOUNDS if bound >= p95)
    le_below = next(text for text, bound in BOUNDS if bound == below)
    # Interpolation puts P95 at below + (above - below) * (0.95 - f) / (g - f), f and g the shares under
    # the two bounds: take g = 1 and solve for f, or f = 0 and solve for g when P95 is near the upper bound.
    r = (p95 - below) / (above - below)
    under_below, under_above = ((0.95 - r) / (1 - r), 1.0) if r <= 0.95 else (0.0, 0.95 / r)
    labels = {**site.target(model), "api": "predict", "entrypoint": "GRPC"}
    return [
        Series(
            f"{DURATION}_bucket", {**labels, "le": le_below}, f"0+{_num(per_minute * under_below)}x{length}"
        ),
        Series(
            f"{DURATION}_bucket", {**labels, "le": le_above}, f"0+{_num(per_minute * under_above)}x{length}"
        ),
        Series(f"{DURATION}_bucket", {**labels, "le": "+Inf"}, f"0+{_num(per_minute)}x{length}"),
        Series(f"{DURATION}_count", labels, f"0+{_num(per_minute)}x{length}"),
    ]


def _errors(ratio: float, ok_per_minute: float) -> float:
    """Errors a minute that make `ratio` of all requests beside `ok_per_minute` successes."""
    return ratio / (1 - ratio) * ok_per_minute


def _busy(min_rate: float) -> float:
    """Requests a minute comfortably above serving.min_request_rate."""
    return max(600.0, min_rate * 60 * 4)


def serving_boundaries(cfg: BundleConfig) -> list[Boundary]:
    site, s = _Site(cfg), cfg.serving
    out = _thresholds(
        cfg, "latency_p95_target_seconds", "LatencyHigh", s.latency_for, partial(_latency, site)
    )
    out += _thresholds(
        cfg,
        "error_ratio_warning",
        "ErrorRatioHigh",
        s.error_ratio_for,
        lambda model, n, ratio, length: _traffic(site, model, n, _errors(ratio, n), length),
    )
    out += _traffic_drops(cfg, site)
    out += _states(cfg, site)
    return out


def _thresholds(
    cfg: BundleConfig,
    key: str,
    alert: str,
    for_: str,
    series: Callable[[str, float, float, int], list[Series]],
) -> list[Boundary]:
    """Per override scope of serving.`key`: `series(model, requests a minute, value, minutes)` just past the
    threshold and just short of it, on a model busier than serving.min_request_rate."""
    site, out = _Site(cfg), []
    for models, (value, min_rate) in scoped_models(cfg, ("serving", key), ("serving", "min_request_rate")):
        model, n, length = _model(models), _busy(min_rate), _length(for_)
        out.append(
            Boundary(
                f"{site.prefix('Serving')}{alert}",
                site.alert("warning", model),
                for_,
                series(model, n, value * ABOVE, length),
                series(model, n, value * BELOW, length),
            )
        )
    return out


def _traffic_drops(cfg: BundleConfig, site: _Site) -> list[Boundary]:
    """Traffic at a share of its rate `traffic_drop_offset` earlier; the week between holds no samples."""
    s = cfg.serving
    offset, hold = minutes_of(s.traffic_drop_offset), minutes_of(s.traffic_drop_for)
    # A week of evaluations is slow: evaluate as coarsely as the offset and `for` allow.
    step = next(step for step in (15, 10, 5, 1) if offset % step == 0 and hold % step == 0)
    past = step + hold + 10
    out = []
    for models, (drop, min_rate) in scoped_models(
        cfg, ("serving", "traffic_drop_ratio"), ("serving", "min_request_rate")
    ):
        model, before = _model(models), _busy(min_rate)
        labels = {**site.target(model), "api": "predict", "entrypoint": "GRPC"}
        out.append(
            Boundary(
                f"{site.prefix('Serving')}TrafficDropped",
                site.alert("warning", model),
                s.traffic_drop_for,
                _week_apart(labels, before, before * drop * BELOW, past, offset),
                _week_apart(labels, before, before * drop * ABOVE, past, offset),
                onset=f"{offset + step}m",
                evaluation_interval=f"{step}m",
            )
        )
    return out


def _week_apart(labels: dict[str, str], before: float, now: float, minutes: int, offset: int) -> list[Series]:
    """`minutes` of requests at `before` a minute, a gap until `offset`, then `minutes` at `now` a minute."""
    values = f"0+{_num(before)}x{minutes} _x{offset - minutes - 1} 0+{_num(now)}x{minutes}"
    return [Series(f"{DURATION}_count", labels, values)]


def _states(cfg: BundleConfig, site: _Site) -> list[Boundary]:
    s, prefix, model = cfg.serving, site.prefix("Serving"), DEFAULT_MODEL

    def gauge(name: str, value: str, for_: str, **labels: str) -> list[Series]:
        return [Series(name, {**site.target(model), **labels}, f"{value}x{_length(for_)}")]

    target_labels = {k: v for k, v in site.target(model).items() if k != "model"}
    mlflow_name, served = next(iter(sorted(s.model_names.items())), (model, model))
    registry = site.target(served)
    alias = {
        **site.cluster,
        cfg.naming.job_label: cfg.exporter.cluster_job,
        "instance": "10.0.2.4:9847",
        "model": mlflow_name,
        "alias": s.registry_alias,
    }

    def mismatch(alias_version: str) -> list[Series]:
        length = _length(s.registry_rollout_window)
        return [
            Series("mlflow_model_alias_version", alias, f"{alias_version}x{length}"),
            Series("tfserving_model_available_versions", registry, f"1x{length}"),
            Series(
                "tfserving_model_version_state",
                {**registry, "version": "7", "state": "AVAILABLE"},
                f"1x{length}",
            ),
        ]

    return [
        Boundary(
            f"{prefix}NoAvailableVersion",
            site.alert("critical", model),
            s.no_available_version_for,
            gauge("tfserving_model_available_versions", "0", s.no_available_version_for),
            gauge("tfserving_model_available_versions", "1", s.no_available_version_for),
            onset="0m",
        ),
        Boundary(
            f"{prefix}VersionLoadFailed",
            site.alert("warning", model, version="8", error_code="NOT_FOUND"),
            s.load_failed_for,
            gauge(
                "tfserving_model_load_error_info",
                "1",
                s.load_failed_for,
                version="8",
                error_code="NOT_FOUND",
                message="Could not find SavedModel",
            ),
            gauge("tfserving_model_version_state", "1", s.load_failed_for, version="8", state="AVAILABLE"),
            onset="0m",
        ),
        health_gauge(
            f"{prefix}TargetDown",
            "warning",
            s.target_down_for,
            "tfserving_target_scrape_success",
            target_labels,
        ),
        Boundary(
            f"{prefix}RegistryMismatch",
            site.alert("warning", served),
            s.registry_rollout_window,
            mismatch("8"),
            mismatch("7"),
            onset="0m",
        ),
    ]


def slo_boundaries(cfg: BundleConfig) -> list[Boundary]:
    """Every SLO window at one error ratio: just past each alert's lowest factor, and just short of it."""
    from alerts.slo import BURNS

    site, out = _Site(cfg), []
    n = 6000.0
    for sli in ("availability", "latency"):
        keys: tuple[tuple[str, str], ...] = (("slo", f"{sli}_objective"),)
        if sli == "latency":
            keys += (("slo", "latency_threshold_seconds"),)
        for models, values in scoped_models(cfg, *keys):
            model, budget = _model(models), 1 - values[0]
            for burn in BURNS:
                bad = min(f for _, _, f in burn.pairs) * budget
                if sli == "availability":
                    crossing = _traffic(site, model, n, _errors(bad * ABOVE, n), 8)
                    near_miss = _traffic(site, model, n, _errors(bad * BELOW, n), 8)
                else:
                    crossing = _slow(site, model, n, bad * ABOVE, values[1])
                    near_miss = _slow(site, model, n, bad * BELOW, values[1])
                out.append(
                    Boundary(
                        f"{site.prefix('Slo')}{sli.capitalize()}{burn.name}",
                        site.alert(burn.severity, model),
                        "",
                        crossing,
                        near_miss,
                        onset="5m",
                    )
                )
    return out


def _slow(site: _Site, model: str, per_minute: float, slow: float, threshold: float) -> list[Series]:
    le = next(text for text, bound in BOUNDS if abs(bound - threshold) <= 1e-9 * threshold)
    labels = {**site.target(model), "api": "predict", "entrypoint": "GRPC"}
    return [
        Series(f"{DURATION}_bucket", {**labels, "le": le}, f"0+{_num(per_minute * (1 - slow))}x8"),
        Series(f"{DURATION}_count", labels, f"0+{_num(per_minute)}x8"),
    ]

"""The `mlflow` plugin: its options (exporter.mlflow.options), their cross-checks, building the collector."""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from exporter.durations import seconds_of
from exporter.mlflow.options import DEFAULT_WINDOWS, OPTIONS
from exporter.option_values import Values
from exporter.options import Option
from exporter.plugin import BuildContext
from exporter.redact import redact_uri

if TYPE_CHECKING:
    import requests

    from exporter.mlflow.collector import MlflowCollector, MlflowSettings
    from exporter.mlflow.http import Credentials, Tls


def _tracking_uri(values: Values, environ: Mapping[str, str], enabled: bool) -> str:
    """The flag, else MLFLOW_TRACKING_URI, else the config file (as the official client)."""
    given = values["tracking_uri"]
    from_flag = given if values.source("tracking_uri") == "flag" else ""
    value = from_flag or environ.get("MLFLOW_TRACKING_URI") or given
    problems = values.problems
    if not value:
        if enabled:
            problems.append(
                "mlflow: no tracking server; set --mlflow.tracking-uri, MLFLOW_TRACKING_URI "
                "or mlflow.tracking_uri"
            )
        return ""
    try:
        parts = urlsplit(value)
        parts.port  # noqa: B018 - raises on a port out of range
    except ValueError:
        problems.append(f"mlflow: tracking URI {redact_uri(value)!r} is not a URL")
        return value
    if parts.scheme not in ("http", "https") or not parts.hostname:
        problems.append(
            f"mlflow: tracking URI {redact_uri(value)!r} is not an http(s) URL "
            "(the exporter reads MLflow's REST API)"
        )
    elif parts.username or parts.password:
        problems.append(
            "mlflow: the tracking URI must not carry credentials; use MLFLOW_TRACKING_USERNAME/PASSWORD"
        )
    elif parts.query or parts.fragment:
        problems.append(f"mlflow: tracking URI {redact_uri(value)!r} must not have a query or fragment")
    return value


def _tls(values: Values, environ: Mapping[str, str], enabled: bool) -> Tls:
    from exporter.mlflow.http import Tls

    problems = values.problems
    insecure_env = environ.get("MLFLOW_TRACKING_INSECURE_TLS", "false").lower()
    if insecure_env not in ("true", "false", "1", "0"):
        problems.append(f"MLFLOW_TRACKING_INSECURE_TLS: {insecure_env!r} is not true or false")
    insecure = values["tls.insecure_skip_verify"]
    if insecure is None:
        insecure = insecure_env in ("true", "1")
    ca_file = values["tls.ca_file"] or environ.get("MLFLOW_TRACKING_SERVER_CERT_PATH") or None
    cert_file = values["tls.cert_file"] or environ.get("MLFLOW_TRACKING_CLIENT_CERT_PATH") or None
    key_file = values["tls.key_file"]
    if insecure and ca_file:
        problems.append("mlflow.tls: a CA file and insecure_skip_verify exclude each other")
    if key_file and not cert_file:
        problems.append("mlflow.tls: key_file needs cert_file")
    for path in (ca_file, cert_file, key_file):
        if enabled and path and not os.path.isfile(path):
            problems.append(f"mlflow.tls: {path} is not a readable file")
    verify: bool | str = False if insecure else (ca_file or True)
    cert: str | tuple[str, str] | None = (cert_file, key_file) if cert_file and key_file else cert_file
    return Tls(verify=verify, cert=cert)


def _tag(values: Values, key: str) -> str:
    tag: str = values[key]
    if "`" in tag:  # tag keys are quoted with backticks in MLflow's filter grammar
        values.problem(key, f"{tag!r} must not contain a backtick")
        return str(values.default(key))
    return tag


def _windows(values: Values) -> tuple[tuple[str, float], ...]:
    windows = []
    for label in dict.fromkeys(values["training.windows"]):
        try:
            seconds = seconds_of(label)
        except ValueError as exc:
            values.problem("training.windows", f"{label!r} {exc}")
            continue
        if seconds <= 0:
            values.problem("training.windows", f"{label!r} must be greater than 0")
            continue
        windows.append((label, seconds))
    return tuple(windows) or tuple((label, seconds_of(label)) for label in DEFAULT_WINDOWS)


def _metric_keys(values: Values, key: str) -> tuple[str, ...]:
    """Metric keys from a repeated flag are checked here (the config's are strings already)."""
    keys: tuple[str, ...] = values[key]
    bad = [name for name in keys if not name.strip() or len(name) > 250]
    if bad and values.source(key) == "flag":
        values.problem(key, f"{bad[0]!r} is not a metric key")
    return keys


class MlflowPlugin:
    name = "mlflow"
    default_enabled = False
    description = "MLflow registry, training runs, drift and quality (cluster-wide Deployment)"
    options: tuple[Option, ...] = OPTIONS
    requires: tuple[str, ...] = ()
    uses: tuple[str, ...] = ()

    def configure(self, values: Values, environ: Mapping[str, str], enabled: bool) -> MlflowSettings | None:
        # Every check runs whether the collector is on or off; the settings (and the collector's modules
        # they need) only when it is on.
        tracking_uri = _tracking_uri(values, environ, enabled)
        tls = _tls(values, environ, enabled)
        windows = _windows(values)
        model_tag = _tag(values, "monitoring.model_name_tag")
        version_tag = _tag(values, "monitoring.model_version_tag")
        drift_metrics = _metric_keys(values, "monitoring.drift_metrics")
        quality_metrics = _metric_keys(values, "monitoring.quality_metrics")
        if not enabled:
            return None

        from exporter.mlflow.collector import MlflowSettings
        from exporter.mlflow.reads import MonitoringQuery, TrainingQuery
        from exporter.mlflow.rows import MonitoringKeys, RegistryCaps

        max_label_length = values["max_label_length"]
        return MlflowSettings(
            tracking_uri=tracking_uri,
            refresh_interval=values["refresh_interval"],
            scrape_wait=values["scrape_wait"],
            request_timeout=values["request_timeout"],
            page_size=values["page_size"],
            max_pages=values["max_pages"],
            tls=tls,
            caps=RegistryCaps(
                max_models=values["registry.max_models"],
                max_versions_per_model=values["registry.max_versions_per_model"],
                max_label_length=max_label_length,
            ),
            baseline_metrics=values["registry.baseline_metrics"],
            training=TrainingQuery(
                experiments=values["training.experiments"],
                experiment_filter=values["training.experiment_filter"],
                lookback=max(seconds for _, seconds in windows),
            ),
            windows=windows,
            monitoring=MonitoringQuery(
                experiments=values["monitoring.experiments"],
                experiment_filter=values["monitoring.experiment_filter"],
                model_tag=model_tag,
                max_runs=values["monitoring.max_runs"],
            ),
            monitoring_keys=MonitoringKeys(
                model_tag=model_tag,
                version_tag=version_tag,
                drift_metrics=drift_metrics,
                quality_metrics=quality_metrics,
                max_series=values["monitoring.max_series"],
                max_label_length=max_label_length,
            ),
            max_body_bytes=values["max_body_bytes"],
        )

    def build(self, settings: MlflowSettings, ctx: BuildContext) -> MlflowCollector:
        import requests  # only when the collector is enabled: about 16 MiB and 130 ms

        from exporter.mlflow.http import Credentials

        credentials = Credentials.from_environ(ctx.environ)
        return build_collector(settings, requests.Session(), credentials, ctx.clock, ctx.wall_clock)


def build_collector(
    settings: MlflowSettings,
    session: requests.Session,
    credentials: Credentials,
    clock: Callable[[], float],
    wall_clock: Callable[[], float],
) -> MlflowCollector:
    """The collector and its HTTP client, wired from settings; the session and clocks are the boundaries."""
    from exporter.mlflow.collector import MlflowCollector
    from exporter.mlflow.http import MlflowHttp
    from exporter.mlflow.source import MlflowSource
    from exporter.mlflow.stats import RequestStats

    http = MlflowHttp(
        settings.tracking_uri,
        session,
        credentials,
        settings.tls,
        settings.request_timeout,
        RequestStats(),
        page_size=settings.page_size,
        max_pages=settings.max_pages,
        max_body_bytes=settings.max_body_bytes,
    )
    return MlflowCollector(settings, MlflowSource(http), clock=clock, wall_clock=wall_clock)


MLFLOW_PLUGIN = MlflowPlugin()

"""The `mlflow` plugin: flags, the `mlflow:` config section, and building the collector.

    mlflow:
      tracking_uri: https://mlflow.internal       # else --mlflow.tracking-uri or MLFLOW_TRACKING_URI
      refresh_interval: 60s                       # read MLflow at most this often
      scrape_wait: 2s                             # a scrape that starts a refresh waits this long for it
      request_timeout: 10s
      page_size: 1000                             # max_results per page
      max_pages: 100                              # per listing; more (or a repeated token) is an error
      max_body_bytes: 8388608                     # per answer; a bigger one fails its section (too_large)
      max_label_length: 128
      tls: {ca_file: /ca.pem, cert_file: /c.pem, key_file: /k.pem, insecure_skip_verify: false}
      registry: {max_models: 1000, max_versions_per_model: 50, baseline_metrics: [val_auc]}
      training: {experiments: [train-fraud], experiment_filter: "tags.kind = 'training'", windows: [1d, 7d]}
      monitoring:
        experiments: []                           # none and no filter: every active experiment
        experiment_filter: ""
        model_name_tag: mlobs.model_name
        model_version_tag: mlobs.model_version
        drift_metrics: [psi, p_value, share_drifted_features, dataset_drift]
        quality_metrics: [accuracy, auc, f1, precision, recall, rmse, mae]
        max_runs: 1000                            # the newest monitoring runs read per refresh
        max_series: 5000

Credentials come from the environment, as for the official client: MLFLOW_TRACKING_USERNAME and
MLFLOW_TRACKING_PASSWORD (Basic, preferred), else MLFLOW_TRACKING_TOKEN (Bearer); TLS from
MLFLOW_TRACKING_SERVER_CERT_PATH, MLFLOW_TRACKING_CLIENT_CERT_PATH, MLFLOW_TRACKING_INSECURE_TLS unless the
`tls:` section says otherwise.
"""

from __future__ import annotations

import argparse
import os
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from exporter.mlflow.collector import MlflowCollector, MlflowSettings
from exporter.mlflow.http import DEFAULT_MAX_BODY_BYTES, Credentials, MlflowHttp, Tls
from exporter.mlflow.reads import MonitoringQuery, TrainingQuery
from exporter.mlflow.rows import MonitoringKeys, RegistryCaps
from exporter.mlflow.source import MlflowSource
from exporter.mlflow.stats import RequestStats
from exporter.plugin import BuildContext
from exporter.redact import redact_uri
from exporter.validate import Section

if TYPE_CHECKING:
    import requests

DEFAULT_WINDOWS = ("1d", "7d")
DEFAULT_DRIFT = ("psi", "p_value", "share_drifted_features", "dataset_drift")
DEFAULT_QUALITY = ("accuracy", "auc", "f1", "precision", "recall", "rmse", "mae")


def parse_duration(text: str) -> float:
    """Seconds from a number or a Prometheus-style duration (`90s`, `30m`, `6h`, `1d`, `1w`, `1h30m`)."""
    try:
        return _positive(float(text), text)
    except ValueError:
        pass
    units = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800, "y": 31536000}
    total, number, i = 0.0, "", 0
    while i < len(text):
        if text[i].isdigit() or text[i] == ".":
            number += text[i]
            i += 1
            continue
        unit = "ms" if text.startswith("ms", i) else text[i]
        if unit not in units or not number:
            raise ValueError(f"{text!r} is not a duration like 90s, 30m, 6h, 1d")
        total += float(number) * units[unit]
        number, i = "", i + len(unit)
    if number:
        raise ValueError(f"{text!r} is not a duration like 90s, 30m, 6h, 1d")
    return _positive(total, text)


def _positive(seconds: float, text: str) -> float:
    if not seconds > 0 or seconds == float("inf"):
        raise ValueError(f"{text!r} must be a duration greater than 0")
    return seconds


def _duration(section: Section, key: str, default: float, flag: str | None = None) -> float:
    """Seconds from a flag or the section: a number, or a duration like `90s`, `5m`, `1h`."""
    text = flag if flag is not None else section.data.get(key)
    if not isinstance(text, str):
        return section.number(key, default, positive=True)
    if flag is None:
        section.string(key)  # marks the key as read
    try:
        return parse_duration(text)
    except ValueError as exc:
        where = f"--mlflow.{key.replace('_', '-')}" if flag is not None else f"{section.path}.{key}"
        section.problems.append(f"{where}: {exc}")
        return default


def _page_size(section: Section) -> int:
    size = section.integer("page_size", 1000, minimum=1)
    if size > 1000:  # registered-models/search refuses more
        section.problem("page_size", f"must be at most 1000, got {size}")
        return 1000
    return size


def _tracking_uri(value: str | None, problems: list[str], enabled: bool) -> str:
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


def _tls(section: Section, environ: Mapping[str, str], enabled: bool) -> Tls:
    insecure_env = environ.get("MLFLOW_TRACKING_INSECURE_TLS", "false").lower()
    if insecure_env not in ("true", "false", "1", "0"):
        section.problems.append(f"MLFLOW_TRACKING_INSECURE_TLS: {insecure_env!r} is not true or false")
    insecure = section.boolean("insecure_skip_verify", insecure_env in ("true", "1"))
    ca_file = section.string("ca_file") or environ.get("MLFLOW_TRACKING_SERVER_CERT_PATH") or None
    cert_file = section.string("cert_file") or environ.get("MLFLOW_TRACKING_CLIENT_CERT_PATH") or None
    key_file = section.string("key_file")
    section.reject_unknown()
    if insecure and ca_file:
        section.problems.append("mlflow.tls: a CA file and insecure_skip_verify exclude each other")
    if key_file and not cert_file:
        section.problems.append("mlflow.tls: key_file needs cert_file")
    for path in (ca_file, cert_file, key_file):
        if enabled and path and not os.path.isfile(path):
            section.problems.append(f"mlflow.tls: {path} is not a readable file")
    verify: bool | str = False if insecure else (ca_file or True)
    cert: str | tuple[str, str] | None = (cert_file, key_file) if cert_file and key_file else cert_file
    return Tls(verify=verify, cert=cert)


def _tag(section: Section, key: str, default: str) -> str:
    tag = section.string(key, default) or default
    if "`" in tag:  # tag keys are quoted with backticks in MLflow's filter grammar
        section.problem(key, f"{tag!r} must not contain a backtick")
        return default
    return tag


def _windows(section: Section) -> tuple[tuple[str, float], ...]:
    labels = section.strings("windows", DEFAULT_WINDOWS) or DEFAULT_WINDOWS
    windows = []
    for label in dict.fromkeys(labels):
        try:
            windows.append((label, parse_duration(label)))
        except ValueError as exc:
            section.problem("windows", str(exc))
    return tuple(windows) or tuple((label, parse_duration(label)) for label in DEFAULT_WINDOWS)


def _flag_wins(
    values: list[str] | None, flag: str, from_file: tuple[str, ...], problems: list[str]
) -> tuple[str, ...]:
    """Metric keys given on the command line win over the file's (read and checked either way)."""
    if not values:
        return from_file
    bad = [key for key in values if not key.strip() or len(key) > 250]
    if bad:
        problems.append(f"{flag}: {bad[0]!r} is not a metric key")
    return tuple(values)


class MlflowPlugin:
    name = "mlflow"
    default_enabled = False
    description = "MLflow registry, training runs, drift and quality (cluster-wide Deployment)"

    def add_flags(self, parser: argparse.ArgumentParser) -> None:
        parser.add_argument(
            "--mlflow.tracking-uri",
            dest="mlflow_tracking_uri",
            default=None,
            help="MLflow tracking server URL (else MLFLOW_TRACKING_URI, else mlflow.tracking_uri)",
        )
        parser.add_argument(
            "--mlflow.experiment",
            dest="mlflow_experiments",
            action="append",
            default=None,
            help="training experiment to follow, by name (repeatable; else mlflow.training.experiments)",
        )
        parser.add_argument(
            "--mlflow.drift-metric",
            dest="mlflow_drift_metrics",
            action="append",
            default=None,
            help="drift metric key to read (repeatable; else mlflow.monitoring.drift_metrics)",
        )
        parser.add_argument(
            "--mlflow.quality-metric",
            dest="mlflow_quality_metrics",
            action="append",
            default=None,
            help="quality metric key to read (repeatable; else mlflow.monitoring.quality_metrics)",
        )
        parser.add_argument(
            "--mlflow.refresh-interval",
            dest="mlflow_refresh_interval",
            default=None,
            help="read MLflow at most this often (default 60s)",
        )

    def configure(
        self, args: argparse.Namespace, section: Section, environ: Mapping[str, str], enabled: bool
    ) -> MlflowSettings:
        problems = section.problems
        from_file = section.string("tracking_uri")
        uri = _tracking_uri(
            args.mlflow_tracking_uri or environ.get("MLFLOW_TRACKING_URI") or from_file, problems, enabled
        )
        max_label_length = section.integer("max_label_length", 128, minimum=16)
        registry = section.section("registry")
        caps = RegistryCaps(
            max_models=registry.integer("max_models", 1000, minimum=1),
            max_versions_per_model=registry.integer("max_versions_per_model", 50, minimum=1),
            max_label_length=max_label_length,
        )
        baseline_metrics = registry.strings("baseline_metrics")
        registry.reject_unknown()
        training = section.section("training")
        windows = _windows(training)
        configured_experiments = training.strings("experiments")  # read even when flags win: validated, known
        training_query = TrainingQuery(
            experiments=tuple(args.mlflow_experiments or ()) or configured_experiments,
            experiment_filter=training.string("experiment_filter", "") or "",
            lookback=max(seconds for _, seconds in windows),
        )
        training.reject_unknown()
        monitoring = section.section("monitoring")
        model_tag = _tag(monitoring, "model_name_tag", "mlobs.model_name")
        monitoring_query = MonitoringQuery(
            experiments=monitoring.strings("experiments"),
            experiment_filter=monitoring.string("experiment_filter", "") or "",
            model_tag=model_tag,
            max_runs=monitoring.integer("max_runs", 1000, minimum=1),
        )
        keys = MonitoringKeys(
            model_tag=model_tag,
            version_tag=_tag(monitoring, "model_version_tag", "mlobs.model_version"),
            drift_metrics=_flag_wins(
                args.mlflow_drift_metrics,
                "--mlflow.drift-metric",
                monitoring.strings("drift_metrics", DEFAULT_DRIFT),
                problems,
            ),
            quality_metrics=_flag_wins(
                args.mlflow_quality_metrics,
                "--mlflow.quality-metric",
                monitoring.strings("quality_metrics", DEFAULT_QUALITY),
                problems,
            ),
            max_series=monitoring.integer("max_series", 5000, minimum=1),
            max_label_length=max_label_length,
        )
        monitoring.reject_unknown()
        return MlflowSettings(
            tracking_uri=uri,
            refresh_interval=_duration(section, "refresh_interval", 60.0, args.mlflow_refresh_interval),
            scrape_wait=_duration(section, "scrape_wait", 2.0),
            request_timeout=_duration(section, "request_timeout", 10.0),
            page_size=_page_size(section),
            max_pages=section.integer("max_pages", 100, minimum=1),
            tls=_tls(section.section("tls"), environ, enabled),
            caps=caps,
            baseline_metrics=baseline_metrics,
            training=training_query,
            windows=windows,
            monitoring=monitoring_query,
            monitoring_keys=keys,
            max_body_bytes=section.integer("max_body_bytes", DEFAULT_MAX_BODY_BYTES, minimum=1024),
        )

    def build(self, settings: MlflowSettings, ctx: BuildContext) -> MlflowCollector:
        import requests  # only when the collector is enabled: about 16 MiB and 130 ms

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

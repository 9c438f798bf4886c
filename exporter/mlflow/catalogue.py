"""MLflow (`--collector.mlflow`, cluster-wide): registry state, training outcomes, drift and quality from
monitoring runs, and the registry's health as the exporter sees it.

MLflow is read in the background at most once per `--mlflow.refresh-interval` (default 60s); a scrape serves
the last good snapshot of each section (`registry`, `baseline`, `training`, `monitoring`), whose age is
`mlflow_snapshot_age_seconds`. Conventions:

- Monitoring runs are linked to a model by the run tags `mlobs.model_name` and `mlobs.model_version`
  (configurable). Their latest metrics are exported when the key is a configured quality metric
  (`mlflow_model_quality{metric}`), or a configured drift metric `<name>` (dataset level, `feature=""`) or
  `<name>.<feature>` (per feature): `psi.age` becomes `{metric="psi", feature="age"}`. "Latest" is the newest
  timestamp over all monitoring runs of that model version.
- The offline baseline is the metric logged by the training run (`run_id`) of the version behind each alias,
  for the metric keys configured in `mlflow.registry.baseline_metrics`; join it with online quality on
  `model, version, metric`.
- Training runs count in a window when they ended in it (FINISHED, FAILED, KILLED) or started in it and are
  still RUNNING or SCHEDULED. Success ratio: `FINISHED / (FINISHED + FAILED + KILLED)`.
- Registry availability SLI: the failed requests are
  `mlflow_request_errors_total{kind=~"connection|timeout|tls|server_error|malformed"}`, out of
  `mlflow_requests_total`. Other kinds (401/403, not found, pagination, too_large, redirect) are the
  exporter's configuration or the server's data, not the registry being down.
- Robustness: every answer is read streamed up to `mlflow.max_body_bytes` (default 8 MiB); redirects are
  followed only on the tracking server's own origin, at most 3 times; sections are read concurrently, so a
  hung server shows as `mlflow_up 0` after one `request_timeout`. An answer of an unexpected shape fails only
  its section and counts as `malformed`.
- Label values are stripped of control characters and cut to `mlflow.max_label_length` (default 128); a value
  that had to change ends in `~` and 8 hex digits of its hash, so distinct values stay distinct.
"""

from exporter.catalogue.spec import MetricSpec, MetricType


def _spec(
    name: str, type_: MetricType, help_text: str, labels: tuple[str, ...] = (), unit: str = ""
) -> MetricSpec:
    return MetricSpec(name, type_, help_text, labels, unit=unit, collector="mlflow")


# The registry's health as the exporter sees it.
UP = _spec("mlflow_up", "gauge", "1 when the last refresh read every section without error, else 0.")
SNAPSHOT_AGE = _spec(
    "mlflow_snapshot_age_seconds",
    "gauge",
    "Age of the data served for this section: MLflow is read at most once per --mlflow.refresh-interval "
    "(default 60s) and the last good read is served.",
    ("section",),
    unit="seconds",
)
REFRESH_DURATION = _spec(
    "mlflow_refresh_duration_seconds",
    "gauge",
    "Wall time of the last refresh of all sections.",
    unit="seconds",
)
REQUESTS = _spec(
    "mlflow_requests_total",
    "counter",
    "Requests made to the MLflow REST API (the SLI's total).",
    ("endpoint",),
)
REQUEST_ERRORS = _spec(
    "mlflow_request_errors_total",
    "counter",
    "Failed MLflow requests by kind: connection, timeout, tls, server_error and malformed (an answer of "
    "an unexpected shape or type, at any depth) are the registry's fault (the SLI's failures); "
    "unauthorized, forbidden, not_found, client_error, pagination, too_large (an answer over "
    "mlflow.max_body_bytes) and redirect (to another host, or too many) are not.",
    ("endpoint", "kind"),
)
REQUEST_DURATION = _spec(
    "mlflow_request_duration_seconds",
    "histogram",
    "Duration of MLflow REST requests, failed ones included.",
    ("endpoint",),
    unit="seconds",
)
DROPPED = _spec(
    "mlflow_dropped_total",
    "counter",
    "Items left out of a refresh's snapshot by a cap (models, versions, monitored_series), summed over "
    "refreshes: a rate above 0 means a cap is cutting now.",
    ("what",),
)

# Registry.
REGISTERED_MODELS = _spec("mlflow_registered_models", "gauge", "Registered models in the registry.")
MODEL_VERSIONS = _spec(
    "mlflow_model_versions",
    "gauge",
    "Versions of the model by status: READY always; PENDING_REGISTRATION, FAILED_REGISTRATION while above 0.",
    ("model", "status"),
)
MODEL_VERSION_INFO = _spec(
    "mlflow_model_version_info",
    "gauge",
    "1 per model version (the newest per model, up to a cap), with its status and deprecated stage.",
    ("model", "version", "status", "stage"),
)
ALIAS_VERSION = _spec(
    "mlflow_model_alias_version",
    "gauge",
    "The version number the alias points to, from the registered model's alias list.",
    ("model", "alias"),
)
ALIAS_VERSION_AGE = _spec(
    "mlflow_model_alias_version_age_seconds",
    "gauge",
    "Seconds since the version behind the alias was created.",
    ("model", "alias"),
    unit="seconds",
)
OFFLINE_METRIC = _spec(
    "mlflow_model_offline_metric",
    "gauge",
    "Offline baseline: the metric as logged by the training run of the version behind the alias.",
    ("model", "alias", "version", "metric"),
)

# Training pipelines.
TRAINING_RUNS = _spec(
    "mlflow_training_runs",
    "gauge",
    "Runs of the training experiment in the window, by status (ended in it, or started in it and in flight).",
    ("experiment", "status", "window"),
)
TRAINING_LAST_DURATION = _spec(
    "mlflow_training_last_run_duration_seconds",
    "gauge",
    "Duration of the most recent run that ended with this status within the largest window.",
    ("experiment", "status"),
    unit="seconds",
)
TRAINING_LAST_SUCCESS = _spec(
    "mlflow_training_last_success_timestamp_seconds",
    "gauge",
    "When the most recent FINISHED run of the experiment ended, whenever that was; 0 when none ever did.",
    ("experiment",),
    unit="seconds",
)

# Online monitoring.
DRIFT = _spec(
    "mlflow_model_drift",
    "gauge",
    "Latest drift metric of the model version from its monitoring runs; feature is empty at dataset level.",
    ("model", "version", "metric", "feature"),
)
DRIFT_TIMESTAMP = _spec(
    "mlflow_model_drift_timestamp_seconds",
    "gauge",
    "When the latest value of mlflow_model_drift was logged.",
    ("model", "version", "metric", "feature"),
    unit="seconds",
)
QUALITY = _spec(
    "mlflow_model_quality",
    "gauge",
    "Latest online quality metric of the model version from its monitoring runs.",
    ("model", "version", "metric"),
)
QUALITY_TIMESTAMP = _spec(
    "mlflow_model_quality_timestamp_seconds",
    "gauge",
    "When the latest value of mlflow_model_quality was logged.",
    ("model", "version", "metric"),
    unit="seconds",
)
MONITORING_RUNS = _spec(
    "mlflow_monitoring_runs_read",
    "gauge",
    "Monitoring runs read in the last refresh (the newest, up to mlflow.monitoring.max_runs).",
)

METRICS = (
    UP,
    SNAPSHOT_AGE,
    REFRESH_DURATION,
    REQUESTS,
    REQUEST_ERRORS,
    REQUEST_DURATION,
    DROPPED,
    REGISTERED_MODELS,
    MODEL_VERSIONS,
    MODEL_VERSION_INFO,
    ALIAS_VERSION,
    ALIAS_VERSION_AGE,
    OFFLINE_METRIC,
    TRAINING_RUNS,
    TRAINING_LAST_DURATION,
    TRAINING_LAST_SUCCESS,
    DRIFT,
    DRIFT_TIMESTAMP,
    QUALITY,
    QUALITY_TIMESTAMP,
    MONITORING_RUNS,
)

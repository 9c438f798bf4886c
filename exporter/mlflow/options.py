"""The `mlflow:` options, each declared once (flags, validation and docs come from here).

Credentials come from the environment, as for the official client: MLFLOW_TRACKING_USERNAME and
MLFLOW_TRACKING_PASSWORD (Basic, preferred), else MLFLOW_TRACKING_TOKEN (Bearer); TLS from
MLFLOW_TRACKING_SERVER_CERT_PATH, MLFLOW_TRACKING_CLIENT_CERT_PATH, MLFLOW_TRACKING_INSECURE_TLS unless the
`tls:` section says otherwise.
"""

from __future__ import annotations

from exporter.mlflow.http import DEFAULT_MAX_BODY_BYTES
from exporter.options import Boolean, Duration, Integer, Option, Strings, Text

DEFAULT_WINDOWS = ("1d", "7d")
DEFAULT_DRIFT = ("psi", "p_value", "share_drifted_features", "dataset_drift")
DEFAULT_QUALITY = ("accuracy", "auc", "f1", "precision", "recall", "rmse", "mae")
# registered-models/search refuses more per page.
MAX_PAGE_SIZE = 1000

OPTIONS = (
    Option(
        "tracking_uri", Text(), "",
        "MLflow tracking server URL; MLFLOW_TRACKING_URI wins over the config file, the flag over both",
        default_text="MLFLOW_TRACKING_URI", example="http://mlflow.mlops.svc:5000", metavar="URL",
    ),
    Option("refresh_interval", Duration(), 60.0, "read MLflow at most this often"),
    Option(
        "scrape_wait", Duration(), 2.0, "a scrape that starts a refresh waits this long for it", flag=None
    ),
    Option("request_timeout", Duration(), 10.0, "limit of each request to MLflow", flag=None),
    Option(
        "page_size", Integer(minimum=1, maximum=MAX_PAGE_SIZE), MAX_PAGE_SIZE, "max_results per page",
        flag=None,
    ),
    Option(
        "max_pages", Integer(minimum=1), 100, "pages per listing; more (or a repeated token) is an error",
        flag=None,
    ),
    Option(
        "max_body_bytes", Integer(minimum=1024), DEFAULT_MAX_BODY_BYTES,
        "per MLflow answer; a bigger one fails its section (too_large)", unit="bytes", flag=None,
    ),
    Option(
        "max_label_length", Integer(minimum=16), 128, "label values (names, aliases, keys) are cut to this",
        unit="characters", flag=None,
    ),
    Option(
        "tls.ca_file", Text(), None, "CA bundle that signs the server's certificate", flag=None,
        default_text="MLFLOW_TRACKING_SERVER_CERT_PATH", example="/etc/mlflow/ca.pem", commented=True,
    ),
    Option(
        "tls.cert_file", Text(), None, "client certificate (with its key, or followed by key_file)",
        flag=None, default_text="MLFLOW_TRACKING_CLIENT_CERT_PATH", example="/etc/mlflow/client.pem",
        commented=True,
    ),
    Option(
        "tls.key_file", Text(), None, "client key of cert_file", flag=None, default_text="none",
        example="/etc/mlflow/client.key", commented=True,
    ),
    Option(
        "tls.insecure_skip_verify", Boolean(), None, "do not check the server's certificate", flag=None,
        default_text="MLFLOW_TRACKING_INSECURE_TLS, else false", example=False, commented=True,
    ),
    Option("registry.max_models", Integer(minimum=1), 1000, "registered models read", flag=None),
    Option("registry.max_versions_per_model", Integer(minimum=1), 50, "versions read per model", flag=None),
    Option(
        "registry.baseline_metrics", Strings(), (), "metrics of registered versions exported as baselines",
        flag=None, example=("val_auc",),
    ),
    Option(
        "training.experiments", Strings(), (), "training experiments to follow, by name",
        flag="--mlflow.experiment", example=("train-fraud",), metavar="NAME",
    ),
    Option(
        "training.experiment_filter", Text(), "", "MLflow filter selecting more training experiments",
        flag=None, default_text="none", example="tags.kind = 'training'", commented=True,
    ),
    Option(
        "training.windows", Strings(), DEFAULT_WINDOWS, "windows of the training metrics, as durations",
        flag=None,
    ),
    Option(
        "monitoring.experiments", Strings(), (),
        "monitoring experiments; none and no filter: every active experiment", flag=None,
    ),
    Option(
        "monitoring.experiment_filter", Text(), "", "MLflow filter selecting monitoring experiments",
        flag=None, default_text="none", example="tags.kind = 'monitoring'", commented=True,
    ),
    Option(
        "monitoring.model_name_tag", Text(), "mlobs.model_name", "run tag naming the monitored model",
        flag=None,
    ),
    Option(
        "monitoring.model_version_tag", Text(), "mlobs.model_version", "run tag naming the model version",
        flag=None,
    ),
    Option(
        "monitoring.drift_metrics", Strings(), DEFAULT_DRIFT, "drift metric keys to read",
        flag="--mlflow.drift-metric", metavar="KEY",
    ),
    Option(
        "monitoring.quality_metrics", Strings(), DEFAULT_QUALITY, "quality metric keys to read",
        flag="--mlflow.quality-metric", metavar="KEY",
    ),
    Option(
        "monitoring.max_runs", Integer(minimum=1), 1000, "the newest monitoring runs read per refresh",
        flag=None,
    ),
    Option("monitoring.max_series", Integer(minimum=1), 5000, "monitoring series exported", flag=None),
)  # fmt: skip

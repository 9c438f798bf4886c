"""TensorFlow Serving: serving latency, errors and model-version state per model, in Prometheus conventions.

Read from each TF Serving instance's own metrics page (`/monitoring/prometheus/metrics`) and its model status
API (`GET /v1/models/{name}`) on every scrape. Latencies are converted exactly from microseconds to seconds
(bucket bounds / 1e6), so quantiles match TF Serving's own to the microsecond.

Every per-instance series carries `target` (the REST base URL) and `namespace`/`pod`, which are empty (that
is, absent in PromQL) for statically configured targets. The `version` label on request and latency series is
the one AVAILABLE version of the model when there is exactly one; it is empty (absent in PromQL) while a model
has no or several AVAILABLE versions (a rollout in progress). When a model's status cannot be read at a
scrape, the version read last keeps labelling its traffic for up to 10 minutes, so one failed call does not
change the series' labels. TF Serving's counters are per model, not per version: after a rollout the new
version's series starts at the model's running total, so compare versions with `rate()`, never with raw
values.
"""

from exporter.catalogue.spec import MetricSpec

TARGET = ("target", "namespace", "pod")
MODEL = (*TARGET, "model")
# How long a model's last read single AVAILABLE version keeps labelling its traffic while its status cannot
# be read: one failed status call must not change the labels of its series.
VERSION_MEMORY_SECONDS = 600
_VERSION = (
    "version is the model's one AVAILABLE version, empty while it has none or several (a rollout); when its "
    f"status cannot be read, the last one read is kept for up to {VERSION_MEMORY_SECONDS // 60} minutes."
)

REQUEST_DURATION = MetricSpec(
    "tfserving_request_duration_seconds",
    "histogram",
    "Latency of successful requests (TF Serving :tensorflow:serving:request_latency, microseconds / 1e6), "
    'by api and entrypoint (REST, GRPC); status and metadata polls (API "") are left out. ' + _VERSION,
    (*MODEL, "version", "api", "entrypoint"),
    unit="seconds",
    collector="tfserving",
)
REQUESTS = MetricSpec(
    "tfserving_requests_total",
    "counter",
    "Requests by TF status code name (OK, INVALID_ARGUMENT, NOT_FOUND, ...); includes status and metadata "
    "polls, this exporter's one per model per scrape among them: for an error ratio of real traffic divide "
    "non-OK requests by non-OK plus tfserving_request_duration_seconds_count. " + _VERSION,
    (*MODEL, "version", "status"),
    collector="tfserving",
)
RUNTIME_DURATION = MetricSpec(
    "tfserving_runtime_duration_seconds",
    "histogram",
    "Time spent in the model runtime per successful request (TF Serving runtime_latency), by api and runtime "
    "(TF1, TFRT). " + _VERSION,
    (*MODEL, "version", "api", "runtime"),
    unit="seconds",
    collector="tfserving",
)
BATCH_QUEUING_DURATION = MetricSpec(
    "tfserving_batch_queuing_duration_seconds",
    "histogram",
    "Time requests waited in the batching queue, by batching thread pool.",
    (*TARGET, "thread_pool"),
    unit="seconds",
    collector="tfserving",
)
MODEL_VERSION_STATE = MetricSpec(
    "tfserving_model_version_state",
    "gauge",
    "Current state of each model version the server knows (newest 16), as one series of value 1 per version; "
    "state is UNKNOWN, START, LOADING, AVAILABLE, UNLOADING or END, and a state change replaces the series.",
    (*MODEL, "version", "state"),
    collector="tfserving",
)
MODEL_AVAILABLE_VERSIONS = MetricSpec(
    "tfserving_model_available_versions",
    "gauge",
    "Number of AVAILABLE versions of the model; 0 when a configured model is unknown to the server.",
    MODEL,
    collector="tfserving",
)
MODEL_LOAD_ATTEMPTS = MetricSpec(
    "tfserving_model_load_attempts_total",
    "counter",
    "SavedModel load attempts per version (parsed from the model_path of load_attempt_count), by status "
    '(success, fail); failures are status="fail".',
    (*MODEL, "version", "status"),
    collector="tfserving",
)
MODEL_LOAD_SECONDS = MetricSpec(
    "tfserving_model_load_seconds_total",
    "counter",
    "Total time spent loading the version's SavedModel.",
    (*MODEL, "version"),
    unit="seconds",
    collector="tfserving",
)
MODEL_LOAD_ERROR = MetricSpec(
    "tfserving_model_load_error_info",
    "gauge",
    "Value 1 for each model version whose status carries an error (a failed load ends in state END with a "
    "non-OK error_code); message is the server's error message, controls escaped, cut at 256 characters "
    "with the marker ...[truncated].",
    (*MODEL, "version", "error_code", "message"),
    collector="tfserving",
)
GRAPH_RUNS = MetricSpec(
    "tfserving_graph_runs_total",
    "counter",
    "TensorFlow graph runs in the serving process (all models).",
    TARGET,
    collector="tfserving",
)
GRAPH_RUN_SECONDS = MetricSpec(
    "tfserving_graph_run_seconds_total",
    "counter",
    "Time spent in TensorFlow graph runs in the serving process (all models).",
    TARGET,
    unit="seconds",
    collector="tfserving",
)
TARGET_SUCCESS = MetricSpec(
    "tfserving_target_scrape_success",
    "gauge",
    "Whether the target's metrics page and every model status were read, and the page's request data could "
    "be used, at this scrape (1) or not (0); tfserving_target_errors_total says why.",
    TARGET,
    collector="tfserving",
)
TARGET_DURATION = MetricSpec(
    "tfserving_target_scrape_duration_seconds",
    "gauge",
    "Wall time reading the target at this scrape (bounded by its timeout).",
    TARGET,
    unit="seconds",
    collector="tfserving",
)
TARGET_LAST_SUCCESS = MetricSpec(
    "tfserving_target_last_success_timestamp_seconds",
    "gauge",
    "Unix time of the target's last fully successful scrape; absent until the first one.",
    TARGET,
    unit="seconds",
    collector="tfserving",
)
TARGET_ERRORS = MetricSpec(
    "tfserving_target_errors_total",
    "counter",
    "Scrapes of the target that failed since the exporter started, by reason (timeout, connection, "
    "http_status, too_large, truncated, invalid_body, model_not_found; no_request_data: the page holds no "
    "metric, or no request counts while models are configured; dropped_lines: lines of the request count "
    "or latency families could not be used); one scrape counts once per reason.",
    (*TARGET, "reason"),
    collector="tfserving",
)
PAGE_LINES_DROPPED = MetricSpec(
    "tfserving_page_lines_dropped_total",
    "counter",
    "Lines of the target's metrics page that could not be used, by reason: malformed (not a sample line, "
    "a value that is not a number, a cut-off last line), too_long (a line over 4096 or a label value over "
    "256 characters), invalid_value (a counter that is negative, NaN or infinite), invalid_histogram "
    "(all lines of a series whose buckets are missing +Inf, decrease or disagree with _count), duplicate "
    "(a series repeated: the first is kept). Lines of families the exporter does not use are not read.",
    (*TARGET, "reason"),
    collector="tfserving",
)
DISCOVERY_SUCCESS = MetricSpec(
    "tfserving_kubernetes_discovery_success",
    "gauge",
    "Whether the last Kubernetes pod listing succeeded (1) or not (0); listings are cached for "
    "refresh_interval seconds and the last good one is kept on failure.",
    collector="tfserving",
)
DISCOVERED_TARGETS = MetricSpec(
    "tfserving_kubernetes_discovered_targets",
    "gauge",
    "TF Serving pods on this node found through the Kubernetes API.",
    collector="tfserving",
)

METRICS = (
    REQUEST_DURATION,
    REQUESTS,
    RUNTIME_DURATION,
    BATCH_QUEUING_DURATION,
    MODEL_VERSION_STATE,
    MODEL_AVAILABLE_VERSIONS,
    MODEL_LOAD_ATTEMPTS,
    MODEL_LOAD_SECONDS,
    MODEL_LOAD_ERROR,
    GRAPH_RUNS,
    GRAPH_RUN_SECONDS,
    TARGET_SUCCESS,
    TARGET_DURATION,
    TARGET_LAST_SUCCESS,
    TARGET_ERRORS,
    PAGE_LINES_DROPPED,
    DISCOVERY_SUCCESS,
    DISCOVERED_TARGETS,
)

"""The exporter's own series: always present, whatever the collectors do."""

from exporter.catalogue.spec import MetricSpec

BUILD_INFO = MetricSpec(
    "mlobs_build_info",
    "gauge",
    "Build of the mlobs exporter; gpu_backend is 'fake' when GPU data is simulated, never real hardware.",
    ("version", "python_version", "node", "gpu_backend"),
    collector="exporter",
)
COLLECTOR_SUCCESS = MetricSpec(
    "mlobs_collector_success",
    "gauge",
    "1 when the collector's last collection succeeded completely, 0 when it failed or was partial.",
    ("collector",),
    collector="exporter",
)
COLLECTOR_DURATION = MetricSpec(
    "mlobs_collector_duration_seconds",
    "gauge",
    "Wall time the collector took during this scrape.",
    ("collector",),
    unit="seconds",
    collector="exporter",
)
LABEL_VALUES_SANITIZED = MetricSpec(
    "mlobs_label_values_sanitized_total",
    "counter",
    "Label values the collector took from an upstream that had to be changed to be served: control "
    "characters and invalid Unicode (lone surrogates) escaped as \\xNN or \\uNNNN, values over 256 "
    "characters cut with the marker ...[truncated]. Counted every time such a value is served.",
    ("collector",),
    collector="exporter",
)

HTTP_EVENTS = MetricSpec(
    "mlobs_http_events_total",
    "counter",
    "What the HTTP front did with connections and requests since start: accepted, queued and answered; "
    "refused_400 (a malformed request, or plain HTTP on the TLS port), refused_503 (every worker busy and "
    "the queue full), timed_out (no complete request in time), dropped_oldest (over the connection "
    "limit), tls_failed, write_failed (the client left before the answer), failed_500. A scrape refused "
    "here is missing from Prometheus; this is where it shows.",
    ("event",),
    collector="exporter",
)

METRICS = (BUILD_INFO, COLLECTOR_SUCCESS, COLLECTOR_DURATION, LABEL_VALUES_SANITIZED, HTTP_EVENTS)

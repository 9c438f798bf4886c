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

METRICS = (BUILD_INFO, COLLECTOR_SUCCESS, COLLECTOR_DURATION)

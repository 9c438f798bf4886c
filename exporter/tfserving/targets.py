"""What to read: a TF Serving instance, as configured or discovered. Plain data, no I/O.

Apart from the source (`exporter.tfserving.source`) so that settings and discovery do not load the HTTP
client (http.client, ssl) unless the collector is built.
"""

from __future__ import annotations

from dataclasses import dataclass

DEFAULT_METRICS_PATH = "/monitoring/prometheus/metrics"


@dataclass(frozen=True)
class Target:
    """One TF Serving instance: its REST base URL, the models it is known to serve, and where it came from."""

    url: str
    models: tuple[str, ...] = ()
    metrics_path: str = DEFAULT_METRICS_PATH
    timeout: float = 2.0
    namespace: str = ""
    pod: str = ""
    pod_uid: str = ""
    node: str = ""

"""Names of the recording rules that alerts and dashboards share: one function per family of records.

The serving, SLO, model, training and registry groups record under these names, and dashboards read them
through these functions, so a rename breaks `make generate` rather than a panel. Every record keeps the
configured cluster label (naming.cluster_label) beside the labels its level names:

| level | labels kept |
|---|---|
| model | namespace, model |
| model_version | namespace, model, version |
| job (registry) | job |
| experiment | experiment |
| model_version (drift) | model, version, metric |
"""

from __future__ import annotations

from typing import Literal

ServingLevel = Literal["model", "model_version"]
Sli = Literal["availability", "latency"]
QUANTILES = (0.5, 0.95, 0.99)
# Multi-window multi-burn-rate windows (Google SRE workbook): every SLO records its error ratio over each.
SLO_WINDOWS = ("5m", "30m", "1h", "2h", "6h", "1d", "3d")


def request_rate(level: ServingLevel, window: str) -> str:
    """Requests per second (all statuses)."""
    return f"{level}:tfserving_requests:rate{window}"


def error_ratio(level: ServingLevel, window: str) -> str:
    """Share of requests that are errors (non-OK, less serving.client_error_codes)."""
    return f"{level}:tfserving_requests_errors:ratio_rate{window}"


def latency_quantile(level: ServingLevel, quantile: float, window: str) -> str:
    """Latency quantile in seconds from tfserving_request_duration_seconds buckets (0.5, 0.95 or 0.99)."""
    return f"{level}:tfserving_request_duration_seconds:p{round(quantile * 100)}_rate{window}"


def latency_bucket_rate(window: str) -> str:
    """Per model version and bucket bound `le`: successful requests per second under that bound, every pod's
    summed. The latency quantiles and the latency heatmap read it instead of every pod's buckets."""
    return f"model_version:tfserving_request_duration_seconds_bucket:rate{window}"


def slo_error_ratio(sli: Sli, window: str) -> str:
    """Per model: share of bad events of the SLI over `window` (one of SLO_WINDOWS, or the SLO period)."""
    return f"model:slo_{sli}_errors:ratio_rate{window}"


def slo_events(sli: Sli, events: Literal["bad", "total"], window: str) -> str:
    """Per model: bad or all events per second of the SLI over `window`; the long windows sum these."""
    return f"model:slo_{sli}_{events}_events:rate{window}"


def slo_budget_remaining(sli: Sli) -> str:
    """Per model: share of the SLI's error budget left over the SLO period (1 untouched, <= 0 spent)."""
    return f"model:slo_{sli}_error_budget:remaining_ratio"


def registry_error_ratio(window: str) -> str:
    """Share of the exporter's MLflow requests that failed by the registry's fault, over `window`."""
    return f"job:mlflow_requests_errors:ratio_rate{window}"


def registry_budget_remaining() -> str:
    """Share of the registry availability SLO's error budget left over the SLO period."""
    return "job:mlflow_requests_error_budget:remaining_ratio"


def drifted_feature_ratio() -> str:
    """Per model version and drift metric: share of features past the metric's warning threshold."""
    return "model_version:mlflow_model_drift_features:drifted_ratio"


def training_success_ratio() -> str:
    """Per experiment: FINISHED / ended runs in training.window (KILLED per training.killed_is_failure)."""
    return "experiment:mlflow_training_runs:success_ratio"

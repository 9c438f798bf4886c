"""Example experiments for the tests: a TF Serving canary (error ratio, time-based information) and an Istio
A/B test (custom counters, planned sample size), both starting at Unix time 0 as promtool's clock does."""

from __future__ import annotations

from typing import Any

HORIZON_MINUTES = 120

CANARY: dict[str, Any] = {
    "model": "resnet",
    "control": "6",
    "treatment": "7",
    "min_effect": 0.005,
    "start": "1970-01-01T00:00:00Z",
    "duration": "2h",
}
ISTIO: dict[str, Any] = {
    "arm_label": "destination_version",
    "control": "v1",
    "treatment": "v2",
    "proportion": "custom",
    "trials": 'istio_requests_total{destination_service_name="ranker"}',
    "successes": 'istio_requests_total{destination_service_name="ranker", response_code=~"5.."}',
    "alpha": 0.01,
    "power": 0.9,
    "min_effect": 0.01,
    "start": "1970-01-01T00:00:00Z",
    "duration": "2h",
    "planned_trials": {"control": 1000, "treatment": 1000},
    "no_traffic_for": "10m",
}


def override(**definitions: dict[str, Any]) -> dict[str, Any]:
    return {"experiments": {"evaluation_interval": "1m", "definitions": definitions}}


def so_far(per_minute: float, minutes: int) -> float:
    """What increase(x[2h] @ 7200) returns for a counter 0+per_minute per minute, sampled every minute from 0.

    Before the horizon the window's end lies beyond the last sample, so Prometheus extrapolates by half a
    sampling interval; at and after it the window ends on a sample and the increase is exact.
    """
    if minutes >= HORIZON_MINUTES:
        return per_minute * HORIZON_MINUTES
    return per_minute * (minutes + 0.5)

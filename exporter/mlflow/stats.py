"""Per-endpoint accounting of MLflow requests for the availability SLI: counts, errors by kind, durations."""

from __future__ import annotations

import bisect
import threading
from dataclasses import dataclass

DURATION_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
# Every kind is exported from the first request on, so rate() over them never starts from nothing.
ERROR_KINDS = (
    "connection",
    "timeout",
    "tls",
    "unauthorized",
    "forbidden",
    "not_found",
    "client_error",
    "server_error",
    "malformed",
    "too_large",
    "redirect",
    "pagination",
)


@dataclass(frozen=True)
class EndpointStats:
    endpoint: str
    requests: int
    errors: dict[str, int]
    buckets: list[tuple[str, float]]  # cumulative, ending with +Inf
    duration_sum: float


class _Accumulator:
    def __init__(self) -> None:
        self.requests = 0
        self.errors = dict.fromkeys(ERROR_KINDS, 0)
        self.bucket_counts = [0] * (len(DURATION_BUCKETS) + 1)
        self.duration_sum = 0.0


class RequestStats:
    """Counters and a duration histogram per endpoint, kept for the life of the process (thread-safe)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._by_endpoint: dict[str, _Accumulator] = {}

    def _get(self, endpoint: str) -> _Accumulator:
        return self._by_endpoint.setdefault(endpoint, _Accumulator())

    def observe(self, endpoint: str, seconds: float, error_kind: str | None) -> None:
        with self._lock:
            acc = self._get(endpoint)
            acc.requests += 1
            acc.bucket_counts[bisect.bisect_left(DURATION_BUCKETS, seconds)] += 1
            acc.duration_sum += seconds
            if error_kind:
                acc.errors[error_kind] += 1

    def error(self, endpoint: str, kind: str) -> None:
        """Count an error found after the request itself succeeded (a looping page token)."""
        with self._lock:
            self._get(endpoint).errors[kind] += 1

    def snapshot(self) -> list[EndpointStats]:
        with self._lock:
            out = []
            for endpoint, acc in sorted(self._by_endpoint.items()):
                running, buckets = 0, []
                for bound, count in zip((*DURATION_BUCKETS, float("inf")), acc.bucket_counts, strict=True):
                    running += count
                    buckets.append(("+Inf" if bound == float("inf") else str(bound), float(running)))
                out.append(EndpointStats(endpoint, acc.requests, dict(acc.errors), buckets, acc.duration_sum))
            return out

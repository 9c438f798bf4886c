"""TF Serving's wire formats, byte for byte: the Prometheus page pieces and the REST JSON bodies.

The page follows tensorflow_serving/util/prometheus_exporter.cc: `# TYPE` lines only (also for families
without samples), colon names, `{}` for label-less series, bucket bounds and sums printed like
absl::StrCat(double) (six significant digits), integer counts. JSON bodies follow the REST handler: protobuf's
printer with whitespace (one-space indent), errors as `{ "error": "..." }`.
"""

from __future__ import annotations

import json
from bisect import bisect_right
from typing import Any

LabelValues = tuple[str, ...]


def exponential_bounds(scale: float, growth: float, count: int) -> tuple[float, ...]:
    """Buckets::Exponential: repeated multiplication, as TF computes them."""
    bounds, bound = [], scale
    for _ in range(count):
        bounds.append(bound)
        bound *= growth
    return tuple(bounds)


LATENCY_BOUNDS = exponential_bounds(10, 1.8, 33)
QUEUING_BOUNDS = exponential_bounds(100, 1.2, 52)
# TF code name -> HTTP status, from ToHTTPStatusCode in tensorflow_serving/model_servers/http_server.cc.
HTTP_STATUS = {
    "OK": 200,
    "CANCELLED": 499,
    "UNKNOWN": 500,
    "INVALID_ARGUMENT": 400,
    "DEADLINE_EXCEEDED": 504,
    "NOT_FOUND": 404,
    "ALREADY_EXISTS": 409,
    "PERMISSION_DENIED": 403,
    "RESOURCE_EXHAUSTED": 429,
    "FAILED_PRECONDITION": 400,
    "ABORTED": 409,
    "OUT_OF_RANGE": 400,
    "UNIMPLEMENTED": 501,
    "INTERNAL": 500,
    "UNAVAILABLE": 503,
    "DATA_LOSS": 500,
    "UNAUTHENTICATED": 401,
}
# Families a real server declares without samples in a plain serving setup (seen in real pages).
EMPTY_FAMILIES = (
    ("/tensorflow/api/op/using_fake_quantization", "gauge"),
    ("/tensorflow/core/eager_context_created", "gauge"),
    ("/tensorflow/core/xla_compilations", "counter"),
    ("/tensorflow/data/autotune", "counter"),
    ("/tensorflow/mlir/import_failure_count", "counter"),
    ("/tensorflow/serving/model_warmup_latency", "histogram"),
    ("/tensorflow/serving/request_example_count_total", "counter"),
    ("/tensorflow/serving/request_log_count", "counter"),
)


def six_digits(value: float) -> str:
    """absl::StrCat(double): `%g` with six significant digits (1274819.9 -> 1.27482e+06)."""
    return f"{value:.6g}"


def escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"')


def label_text(names: tuple[str, ...], values: LabelValues) -> str:
    return ",".join(f'{name}="{escape(value)}"' for name, value in zip(names, values, strict=True))


_BOUND_TEXT: dict[tuple[float, ...], list[str]] = {}


class Histogram:
    def __init__(self, bounds: tuple[float, ...]) -> None:
        self.bounds = bounds
        self.counts = [0] * (len(bounds) + 1)
        self.sum = 0.0
        if bounds not in _BOUND_TEXT:
            _BOUND_TEXT[bounds] = [*(six_digits(b) for b in bounds), "+Inf"]

    def observe(self, value: float) -> None:
        self.counts[bisect_right(self.bounds, value)] += 1  # std::upper_bound, as TF's Histogram::Add
        self.sum += value

    def lines(self, name: str, labels: str) -> list[str]:
        prefix = f"{name}_bucket{{{labels}{',' if labels else ''}"
        out, cumulative = [], 0
        for bound, count in zip(_BOUND_TEXT[self.bounds], self.counts, strict=True):
            cumulative += count
            out.append(f'{prefix}le="{bound}"}} {cumulative}')
        out.append(f"{name}_sum{{{labels}}} {six_digits(self.sum)}")
        out.append(f"{name}_count{{{labels}}} {cumulative}")
        return out


def error_body(message: str) -> str:
    """FillJsonErrorMsg: the message CEscaped inside `{ "error": "..." }`."""
    return '{ "error": "' + json.dumps(message, ensure_ascii=False)[1:-1] + '" }'


def json_body(data: Any) -> str:
    """protobuf's JSON printer with add_whitespace: one-space indent and a final newline."""
    return json.dumps(data, indent=1) + "\n"


def colon_name(tf_name: str) -> str:
    """GetPrometheusMetricName: every character outside [a-zA-Z0-9_] becomes a colon."""
    return "".join(c if c.isascii() and (c.isalnum() or c == "_") else ":" for c in tf_name)


def scalar_family(
    tf_name: str, kind: str, names: tuple[str, ...], points: list[tuple[LabelValues, float]]
) -> tuple[str, str, list[str]]:
    name = colon_name(tf_name)
    return tf_name, kind, [f"{name}{{{label_text(names, key)}}} {int(value)}" for key, value in points]


def histogram_family(
    tf_name: str, names: tuple[str, ...], points: list[tuple[LabelValues, Histogram]]
) -> tuple[str, str, list[str]]:
    name = colon_name(tf_name)
    lines: list[str] = []
    for key, histogram in points:
        lines.extend(histogram.lines(name, label_text(names, key)))
    return tf_name, "histogram", lines

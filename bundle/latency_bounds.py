"""TF Serving's latency bucket bounds as the exporter exposes them, so a rule's `le` matcher is exact.

TF Serving buckets request latency at 10 us x 1.8^n (Exponential(10, 1.8, 33)) and prints each bound with six
significant digits (121440); the exporter shifts that text exactly to seconds (`le="0.12144"`). A latency SLO
counts requests under a bound, so its threshold must be one of these; any other value would need
interpolation, which an SLO must not do.
"""

from __future__ import annotations

import math

from exporter.tfserving.histograms import le_seconds
from exporter.tfserving.simulator_format import LATENCY_BOUNDS, six_digits

# (the exporter's `le` string, the bound in seconds), ascending.
BOUNDS: tuple[tuple[str, float], ...] = tuple(le_seconds(six_digits(bound)) for bound in LATENCY_BOUNDS)


def bucket_le(seconds: float) -> str | None:
    """The exporter's `le` string of the bound equal to `seconds`; None when it is not a bound."""
    for text, bound in BOUNDS:
        if math.isclose(bound, seconds, rel_tol=1e-9):
            return text
    return None


def neighbours(seconds: float) -> tuple[float | None, float | None]:
    """The bounds just below and just above `seconds` (None past either end)."""
    below = [bound for _, bound in BOUNDS if bound < seconds]
    above = [bound for _, bound in BOUNDS if bound > seconds]
    return (below[-1] if below else None, above[0] if above else None)


def describe(seconds: float) -> str:
    """`seconds` in milliseconds as a person reads it (121.44ms, 100ms, 0.01ms)."""
    return f"{seconds * 1000:.2f}".rstrip("0").rstrip(".") + "ms"

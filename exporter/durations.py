"""The one duration grammar of flags and config alike: `2s`, `500ms`, `1m`, `1h30m`, `7d`, or bare seconds."""

from __future__ import annotations

import math
import re

UNITS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0, "w": 604800.0, "y": 31536000.0}
# A sequence of number+unit terms, largest first by convention (not enforced, as Prometheus does).
_TERM = re.compile(r"(\d+(?:\.\d+)?)(ms|s|m|h|d|w|y)")
EXPECTED = "a duration like 2s, 500ms or 1m, or a number of seconds"


def seconds_of(value: object) -> float:
    """Seconds from a YAML number or a duration string; ValueError saying what is wrong, one line.

    Bare numbers are seconds: `2`, `0.5` in YAML, `"2"` on a flag. NaN and infinities
    are refused here; negative values and 0 are the option's call (exporter.options.Duration)."""
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise ValueError(f"must be {EXPECTED}")
    seconds = _text(value.strip()) if isinstance(value, str) else float(value)
    if not math.isfinite(seconds):  # a NaN timeout would fail every scrape
        raise ValueError("must be a finite number of seconds")
    return seconds


def _text(text: str) -> float:
    try:
        return float(text)  # bare seconds; also "nan" and "inf", refused by the caller
    except ValueError:
        pass
    terms = _TERM.findall(text)
    if not text or "".join(number + unit for number, unit in terms) != text:
        raise ValueError(f"must be {EXPECTED}")
    return sum(float(number) * UNITS[unit] for number, unit in terms)


def format_duration(seconds: float) -> str:
    """The shortest exact form in the grammar above: 2s, 500ms, 1m, 1h, 1d."""
    for unit in ("d", "h", "m", "s"):
        count = seconds / UNITS[unit]
        if count >= 1 and count == int(count):
            return f"{int(count)}{unit}"
    milliseconds = seconds * 1000
    if milliseconds == int(milliseconds):
        return f"{int(milliseconds)}ms"
    return f"{seconds:g}s"

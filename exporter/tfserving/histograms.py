"""TF Serving's histograms: bucket lines taken in bulk, each series checked and converted to seconds.

Bucket lines are most of the page the exporter uses (34 per series), so they are split with map/zip over C
string methods rather than a Python loop per line; a series' bounds repeat every scrape, so they are
converted and checked once. Anything unusual falls back to the line-by-line parser (`page_lines`).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal
from itertools import compress, islice, repeat
from operator import gt, ne, not_

MAX_LINE = 4096
_MAX_CACHED = 4096  # distinct bounds and bound lists kept converted; a page has a handful


# Why page lines could not be used (`tfserving_page_lines_dropped_total{reason}`).
DROP_REASONS = ("malformed", "too_long", "invalid_value", "invalid_histogram", "duplicate")


class PageError(ValueError):
    """A line (or a histogram's lines) of the page cannot be used; `reason` is one of DROP_REASONS."""

    def __init__(self, detail: str, line: int | None = None, reason: str = "malformed") -> None:
        super().__init__(detail)
        self.detail = detail
        self.line = line
        self.reason = reason

    def __str__(self) -> str:
        return self.detail if self.line is None else f"line {self.line}: {self.detail}"


@dataclass(frozen=True)
class Histogram:
    """One converted histogram: cumulative `(le in seconds, count)` pairs ending with +Inf, and the sum."""

    labels: dict[str, str]
    buckets: tuple[tuple[str, float], ...]
    sum_seconds: float

    @property
    def count(self) -> float:
        return self.buckets[-1][1]


@dataclass(frozen=True)
class BucketRun:
    """Consecutive bucket lines of one series: its label text (without `le`), bounds and counts."""

    label_text: str
    les: list[str]
    counts: list[float]


# Bucket bounds repeat on every line and every scrape: each distinct string is converted once.
_LE_SECONDS: dict[str, tuple[str, float]] = {"+Inf": ("+Inf", float("inf"))}
_BOUNDS: dict[tuple[str, ...], tuple[str, ...]] = {}


def micros_to_seconds(text: str) -> float:
    """Exact decimal shift, so `1.27482e+06` becomes the double nearest to 1.27482, not 1.27482e6 / 1e6."""
    try:
        return float(Decimal(text).scaleb(-6))
    except ArithmeticError:  # InvalidOperation, and Overflow of an exponent past Decimal's range
        raise PageError(f"not a number: {text[:40]!r}") from None


def le_seconds(le: str) -> tuple[str, float]:
    """A bucket bound in microseconds as the exposition string and the float of the bound in seconds."""
    converted = _LE_SECONDS.get(le)
    if converted is None:
        seconds = micros_to_seconds(le)
        converted = (repr(seconds), seconds)
        if len(_LE_SECONDS) < _MAX_CACHED:
            _LE_SECONDS[le] = converted
    return converted


def number(text: str, line_no: int) -> float:
    try:
        return float(text)
    except ValueError:
        raise PageError(f"value {text[:40]!r} is not a number", line_no) from None


def bucket_runs(prefix: str, lines: list[str], skip: str = "") -> tuple[list[BucketRun], list[int]] | None:
    """The runs of bucket lines (starting with `prefix`) and the indexes of the other lines.

    Bucket lines containing `skip` (when given) are left out before any work. None when any bucket line
    is not in TF's own form `prefix` + `labels,le="bound"} count`: then the line-by-line parser takes the
    section, and names the faulty line if there is one.
    """
    is_bucket = list(map(str.startswith, lines, repeat(prefix)))
    buckets = list(compress(lines, is_bucket))
    others = list(compress(range(len(lines)), map(not_, is_bucket)))
    if skip:
        buckets = list(compress(buckets, map(not_, map(str.__contains__, buckets, repeat(skip)))))
    if not buckets:
        return [], others
    if max(map(len, buckets)) > MAX_LINE:
        return None
    heads, closes, values = zip(*map(str.rpartition, buckets, repeat('"} ')), strict=True)
    starts, separators, les = zip(*map(str.rpartition, heads, repeat(',le="')), strict=True)
    joined = "".join(les)
    if not all(closes) or not all(separators) or '"' in joined or "\\" in joined:
        return None  # `le` not last, an escape in it, or no value after the labels
    try:
        counts = list(map(float, values))  # a timestamp after the value fails here too
    except ValueError:
        return None
    # A series' buckets are printed together: a run ends where the text before `,le=` changes.
    breaks = list(compress(range(1, len(starts)), map(ne, starts, islice(starts, 1, None))))
    return [
        BucketRun(starts[begin][len(prefix) :], list(les[begin:end]), counts[begin:end])
        for begin, end in zip([0, *breaks], [*breaks, len(starts)], strict=True)
    ], others


class HistogramBuilder:
    """Collects one series' bucket, sum and count lines and checks they form a valid histogram."""

    def __init__(self, labels: dict[str, str]) -> None:
        self.labels = labels
        self.les: list[str] = []
        self.counts: list[float] = []
        self.sum_text = ""
        self.count: float | None = None
        self.extra_lines = 0  # its _sum and _count lines, beside one line per bucket

    @property
    def lines(self) -> int:
        return len(self.les) + self.extra_lines

    def add(self, suffix: str, le: str | None, raw_value: str, line_no: int) -> None:
        if le is not None:
            self.counts.append(number(raw_value, line_no))
            self.les.append(le)
            return
        value = number(raw_value, line_no) if suffix == "_count" else None
        self.extra_lines += 1
        if suffix == "_sum":
            self.sum_text = self.sum_text or raw_value  # a repeated line: the first one counts
        elif self.count is None:
            self.count = value

    def duplicates(self) -> int:
        """Drop repeated buckets (the same `le` again: a series printed twice), keeping the first; returns
        how many were dropped."""
        if len(set(self.les)) == len(self.les):
            return 0
        first: dict[str, float] = {}
        for le, count in zip(self.les, self.counts, strict=True):
            first.setdefault(le, count)
        dropped = len(self.les) - len(first)
        self.les, self.counts = list(first), list(first.values())
        return dropped

    def build(self, family: str) -> Histogram:
        """The converted histogram; PageError(invalid_histogram) when its lines do not form one."""
        where = f"{family}{self.labels}"
        les, counts = tuple(self.les), self.counts
        if not les or les[-1] != "+Inf":
            raise PageError(f"{where}: histogram without a +Inf bucket", reason="invalid_histogram")
        texts = _BOUNDS.get(les) or _converted_bounds(where, les)
        # Counts never decrease, from 0 (neighbours compared pairwise in C), and are numbers (NaN compares
        # false everywhere, so a sum catches it and the infinities).
        if any(map(gt, (0.0, *counts), counts)) or not math.isfinite(sum(counts)):
            previous = 0.0
            for le, count in zip(les, counts, strict=True):
                if not count >= previous or math.isinf(count):
                    raise PageError(f"{where}: bad bucket count at le={le}", reason="invalid_histogram")
                previous = count
        if self.count is not None and self.count != counts[-1]:
            raise PageError(
                f"{where}: _count {self.count:g} != +Inf bucket {counts[-1]:g}", reason="invalid_histogram"
            )
        try:
            sum_seconds = micros_to_seconds(self.sum_text) if self.sum_text else 0.0
        except PageError as exc:
            raise PageError(f"{where}: _sum {exc}", reason="invalid_histogram") from None
        return Histogram(self.labels, tuple(zip(texts, counts, strict=True)), sum_seconds)


def _converted_bounds(where: str, les: Sequence[str]) -> tuple[str, ...]:
    """The bounds in seconds as exposition strings, once checked to increase strictly."""
    texts, previous = [], float("-inf")
    for le in les:
        try:
            text, bound = le_seconds(le)
        except PageError:
            detail = f"{where}: bound le={le[:40]!r} is not a number"
            raise PageError(detail, reason="invalid_histogram") from None
        if not bound > previous:
            raise PageError(f"{where}: buckets not increasing at le={le}", reason="invalid_histogram")
        texts.append(text)
        previous = bound
    if len(_BOUNDS) < _MAX_CACHED:
        _BOUNDS[tuple(les)] = tuple(texts)
    return tuple(texts)

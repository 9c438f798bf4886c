"""Parse TF Serving's Prometheus page into typed data, converting microseconds to seconds exactly.

The page comes from tensorflow_serving/util/prometheus_exporter.cc and differs from what client libraries
write: `# TYPE` lines only, names that start with a colon, label-less series as `name{}`, six significant
digits (`le="1.27482e+06"`). Those quirks are accepted; families this module does not know are skipped;
anything that is not a valid line (garbage, a cut-off page, a broken histogram) raises `PageError`.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from itertools import compress, islice, repeat
from operator import ge, gt, itemgetter, ne, not_

REQUEST_COUNT = ":tensorflow:serving:request_count"
REQUEST_LATENCY = ":tensorflow:serving:request_latency"
RUNTIME_LATENCY = ":tensorflow:serving:runtime_latency"
QUEUING_LATENCY = ":tensorflow:serving:batching_session:queuing_latency"
LOAD_ATTEMPTS = ":tensorflow:cc:saved_model:load_attempt_count"
LOAD_LATENCY = ":tensorflow:cc:saved_model:load_latency"
GRAPH_RUNS = ":tensorflow:core:graph_runs"
GRAPH_RUN_TIME = ":tensorflow:core:graph_run_time_usecs"
WANTED = frozenset(
    {
        REQUEST_COUNT,
        REQUEST_LATENCY,
        RUNTIME_LATENCY,
        QUEUING_LATENCY,
        LOAD_ATTEMPTS,
        LOAD_LATENCY,
        GRAPH_RUNS,
        GRAPH_RUN_TIME,
    }
)
MAX_LINE = 4096
MAX_LABEL_VALUE = 256

# Quoted values as an unrolled loop ("[^"\\]*(\\.[^"\\]*)*"): twice as fast as an alternation per character.
_LABEL_SET = r'(?:[A-Za-z_][A-Za-z0-9_]*="[^"\\\n]*(?:\\.[^"\\\n]*)*",?)*'
_SAMPLE = re.compile(
    r"([A-Za-z_:][A-Za-z0-9_:]*)(?:\{(" + _LABEL_SET + r")\})?[ \t]+([^ \t]+)(?:[ \t]+-?[0-9]+)?[ \t]*"
)
_LABELS = re.compile(_LABEL_SET)
_LABEL = re.compile(r'([A-Za-z_][A-Za-z0-9_]*)="([^"\\\n]*(?:\\.[^"\\\n]*)*)"')
_TYPE = re.compile(r"# TYPE ([A-Za-z_:][A-Za-z0-9_:]*) (counter|gauge|histogram|summary|untyped)[ \t]*")
_UNESCAPE = re.compile(r"\\(.)")
_SUFFIXES = ("_bucket", "_sum", "_count")


class PageError(ValueError):
    """The body is not a valid TF Serving metrics page; the message names the line and why."""


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
class Sample:
    labels: dict[str, str]
    value: float


@dataclass
class ServingPage:
    """The families of one page the exporter uses, keyed by TF Serving's family name."""

    samples: dict[str, list[Sample]] = field(default_factory=dict)
    histograms: dict[str, list[Histogram]] = field(default_factory=dict)

    def scalar(self, family: str) -> list[Sample]:
        return self.samples.get(family, [])

    def histogram(self, family: str) -> list[Histogram]:
        return self.histograms.get(family, [])

    def model_names(self) -> set[str]:
        """Models the page reveals: served successfully, or loaded from a version folder."""
        names = {
            s.labels.get("model_name", "")
            for s in self.scalar(REQUEST_COUNT)
            if s.labels.get("status") == "OK"
        }
        for family in (REQUEST_LATENCY, RUNTIME_LATENCY):
            names.update(h.labels.get("model_name", "") for h in self.histogram(family))
        names.update(split_model_path(s.labels.get("model_path", ""))[0] for s in self.scalar(LOAD_ATTEMPTS))
        names.discard("")
        return names


# Bucket bounds repeat on every line; converting each distinct string once keeps parsing cheap.
_LE_SECONDS: dict[str, tuple[str, float]] = {"+Inf": ("+Inf", float("inf"))}


def micros_to_seconds(text: str) -> float:
    """Exact decimal shift, so `1.27482e+06` becomes the double nearest to 1.27482, not 1.27482e6 / 1e6."""
    try:
        return float(Decimal(text).scaleb(-6))
    except InvalidOperation:
        raise PageError(f"not a number: {text[:40]!r}") from None


def le_seconds(le: str) -> tuple[str, float]:
    """A bucket bound in microseconds as the exposition string and the float of the bound in seconds."""
    converted = _LE_SECONDS.get(le)
    if converted is None:
        seconds = micros_to_seconds(le)
        converted = (repr(seconds), seconds)
        if len(_LE_SECONDS) < 4096:
            _LE_SECONDS[le] = converted
    return converted


def split_model_path(path: str) -> tuple[str, str]:
    """`/models/bert/16` -> ("bert", "16"); a path that is not a version folder -> (its last part, "")."""
    parts = path.rstrip("/").rsplit("/", 2)
    if len(parts) >= 2 and parts[-1].isdigit():
        return parts[-2], parts[-1]
    return parts[-1], ""


def _labels(text: str | None, line_no: int) -> dict[str, str]:
    if not text:
        return {}
    labels: dict[str, str] = {}
    for name, raw in _LABEL.findall(text):
        if len(raw) > MAX_LABEL_VALUE:
            raise PageError(f"line {line_no}: label {name} longer than {MAX_LABEL_VALUE} characters")
        labels[name] = _UNESCAPE.sub(lambda m: "\n" if m[1] == "n" else m[1], raw) if "\\" in raw else raw
    return labels


def parse_page(text: str) -> ServingPage:
    """Parse a whole page; raise PageError on the first invalid line.

    The page is cut at its `# TYPE` lines: a family this module does not use is skipped unread (most of
    a page: per-stage load latencies, warmup histograms), the lines of the families used are checked in
    full, and so is anything before the first `# TYPE` (where garbage shows itself).
    """
    if text and not text.endswith("\n"):
        raise PageError("page does not end with a newline (cut off)")
    page = ServingPage()
    seen: set[tuple[str, str]] = set()
    # A leading newline makes a `# TYPE` on the first line a split point like any other.
    preamble, *sections = ("\n" + text).split("\n# TYPE ")
    _parse_lines(page, "", "", preamble.split("\n")[1:], 1, seen)
    line_no = preamble.count("\n") + 1  # of the section's TYPE line
    for section in sections:
        end = section.find("\n")
        declaration = section if end < 0 else section[:end]
        if len(declaration) > MAX_LINE:
            raise PageError(f"line {line_no}: longer than {MAX_LINE} characters")
        match = _TYPE.fullmatch("# TYPE " + declaration)
        if match is None:
            raise PageError(f"line {line_no}: malformed TYPE line")
        family = match[1]
        if family in WANTED and end >= 0:
            _parse_lines(page, family, match[2], section[end + 1 :].split("\n"), line_no + 1, seen)
        line_no += section.count("\n") + 1
    return page


def _parse_lines(
    page: ServingPage,
    family: str,
    family_type: str,
    lines: list[str],
    first_line_no: int,
    seen: set[tuple[str, str]],
) -> None:
    """Parse the lines after one TYPE line (family "" for the lines before the first one)."""
    # Histogram series by their label text without `le`: bucket lines repeat it, so labels are parsed once.
    pending: dict[str, _HistogramBuilder] = {}
    numbered: Iterable[tuple[int, str]] = enumerate(lines, first_line_no)
    if family_type == "histogram":
        bulk = _bulk_buckets(family + "_bucket{", lines, first_line_no)
        if bulk is not None:
            pending, numbered = bulk
    for line_no, line in numbered:
        if not line:
            continue
        if len(line) > MAX_LINE:
            raise PageError(f"line {line_no}: longer than {MAX_LINE} characters")
        if line[0] == "#":
            if line.startswith("# TYPE"):  # a well-formed one would have started a section
                raise PageError(f"line {line_no}: malformed TYPE line")
            continue
        match = _SAMPLE.fullmatch(line)
        if match is None:
            raise PageError(f"line {line_no}: not a sample line: {line[:60]!r}")
        name, label_text, raw_value = match[1], match[2] or "", match[3]
        if not family or not name.startswith(family):
            continue
        if family_type == "histogram":
            suffix = name[len(family) :]
            if suffix not in _SUFFIXES:
                raise PageError(f"line {line_no}: {name} is not a sample of histogram {family}")
            bound: str | None = None
            if suffix == "_bucket":
                label_text, bound = _split_le(label_text, line_no)
            _builder(pending, label_text, line_no).add(suffix, bound, raw_value, line_no)
        elif name == family:
            if (name, label_text) in seen:
                raise PageError(f"line {line_no}: duplicate series {name}{{{label_text}}}")
            seen.add((name, label_text))
            page.samples.setdefault(family, []).append(
                Sample(_labels(label_text, line_no), _number(raw_value, line_no))
            )
    if pending:
        page.histograms.setdefault(family, []).extend(builder.build(family) for builder in pending.values())


def _bulk_buckets(
    prefix: str, lines: list[str], first_line_no: int
) -> tuple[dict[str, _HistogramBuilder], list[tuple[int, str]]] | None:
    """Take a section's bucket lines at once, when all are in TF's own form `{labels,le="b"} count`.

    Bucket lines are most of the lines used: splitting them with map/zip over C string methods costs a
    fraction of a Python loop. Returns the builders and the other lines, numbered; or None when any bucket
    line is in another form (or wrong), and the line-by-line parser takes the section and names the line.
    """
    is_bucket = list(map(str.startswith, lines, repeat(prefix)))
    buckets = list(compress(lines, is_bucket))
    others = list(compress(enumerate(lines, first_line_no), map(not_, is_bucket)))
    if not buckets:
        return {}, others
    if max(map(len, buckets)) > MAX_LINE:
        return None
    heads, spaces, values = zip(*map(str.rpartition, buckets, repeat(" ")), strict=True)
    if not all(spaces) or not all(map(str.endswith, heads, repeat('"}'))):
        return None  # no value, a timestamp, or something after the labels
    starts, separators, tails = zip(*map(str.rpartition, heads, repeat(',le="')), strict=True)
    les = list(map(itemgetter(slice(0, -2)), tails))
    joined = "".join(les)
    if not all(separators) or '"' in joined or "\\" in joined:
        return None  # `le` not last, or an escape in it
    try:
        counts = list(map(float, values))
    except ValueError:
        return None
    texts = list(map(itemgetter(slice(len(prefix), None)), starts))
    # One builder per run of lines with the same labels (a series' buckets are printed together).
    breaks = list(compress(range(1, len(texts)), map(ne, texts, islice(texts, 1, None))))
    pending: dict[str, _HistogramBuilder] = {}
    for begin, end in zip([0, *breaks], [*breaks, len(texts)], strict=True):
        builder = pending.get(texts[begin])
        if builder is None:
            if not _LABELS.fullmatch(texts[begin]) or len(texts[begin]) > MAX_LINE:
                return None
            try:
                builder = pending[texts[begin]] = _HistogramBuilder(_labels(texts[begin], 0))
            except PageError:
                return None
        builder.buckets.extend(zip(les[begin:end], counts[begin:end], strict=True))
    return pending, others


def _builder(pending: dict[str, _HistogramBuilder], label_text: str, line_no: int) -> _HistogramBuilder:
    builder = pending.get(label_text)
    if builder is None:
        if not _LABELS.fullmatch(label_text):
            raise PageError(f"line {line_no}: malformed labels {label_text[:60]!r}")
        builder = pending[label_text] = _HistogramBuilder(_labels(label_text, line_no))
    return builder


def _split_le(label_text: str, line_no: int) -> tuple[str, str]:
    """(the other labels' text, le); TF prints `le` last, other writers may not."""
    at = label_text.rfind('le="')
    if (
        at >= 0
        and (at == 0 or label_text[at - 1] == ",")
        and label_text.endswith('"')
        and '"' not in label_text[at + 4 : -1]
    ):
        return label_text[: max(at - 1, 0)], label_text[at + 4 : -1]
    labels = _labels(label_text, line_no)
    le = labels.pop("le", None)
    if le is None:
        raise PageError(f"line {line_no}: bucket without le")
    return ",".join(f'{k}="{_escape(v)}"' for k, v in labels.items()), le


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def _number(text: str, line_no: int) -> float:
    try:
        return float(text)
    except ValueError:
        raise PageError(f"line {line_no}: value {text[:40]!r} is not a number") from None


class _HistogramBuilder:
    """Collects one series' bucket, sum and count lines and checks they form a valid histogram."""

    def __init__(self, labels: dict[str, str]) -> None:
        self.labels = labels
        self.buckets: list[tuple[str, float]] = []
        self.sum_text = ""
        self.count: float | None = None

    def add(self, suffix: str, le: str | None, raw_value: str, line_no: int) -> None:
        if le is not None:
            self.buckets.append((le, _number(raw_value, line_no)))
        elif suffix == "_sum":
            self.sum_text = raw_value
        else:
            self.count = _number(raw_value, line_no)

    def build(self, family: str) -> Histogram:
        where = f"{family}{self.labels}"
        if not self.buckets or self.buckets[-1][0] != "+Inf":
            raise PageError(f"{where}: histogram without a +Inf bucket")
        les, counts = zip(*self.buckets, strict=True)
        converted = list(map(_LE_SECONDS.get, les))
        if None in converted:
            converted = [known or le_seconds(le) for known, le in zip(converted, les, strict=True)]
        texts, bounds = zip(*converted, strict=True)
        # Bounds strictly and counts weakly increasing, from -Inf and 0: pairs of neighbours, compared in C.
        if any(map(ge, (float("-inf"), *bounds), bounds)) or any(map(gt, (0.0, *counts), counts)):
            previous_bound, previous_count = float("-inf"), 0.0
            for le, bound, count in zip(les, bounds, counts, strict=True):
                if bound <= previous_bound or count < previous_count:
                    raise PageError(f"{where}: buckets not increasing at le={le}")
                previous_bound, previous_count = bound, count
        if self.count is not None and self.count != counts[-1]:
            raise PageError(f"{where}: _count {self.count:g} != +Inf bucket {counts[-1]:g}")
        sum_seconds = micros_to_seconds(self.sum_text) if self.sum_text else 0.0
        return Histogram(self.labels, tuple(zip(texts, counts, strict=True)), sum_seconds)

"""Parse TF Serving's Prometheus page into typed data, converting microseconds to seconds exactly.

The page comes from tensorflow_serving/util/prometheus_exporter.cc and differs from what client libraries
write: `# TYPE` lines only, names that start with a colon, label-less series as `name{}`, six significant
digits (`le="1.27482e+06"`). Any other valid text-format page is read as well: a sample belongs to a family
by its name, so untyped and TYPE-less families, HELP and comment lines, CRLF line ends, timestamps and
prometheus-client's `<name>_total` counters all work. Families this module does not use are skipped unread,
and so are the latency series of status and metadata polls (`API=""`).

Parsing never fails: a line that cannot be used (garbage, a negative or NaN counter, a broken histogram,
a series repeated) is dropped and counted by reason in `ServingPage.dropped`, and `ServingPage.problem`
says when what is left cannot be trusted.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field

from exporter.tfserving.histograms import (
    DROP_REASONS as DROP_REASONS,  # part of this module's API
)
from exporter.tfserving.histograms import (
    MAX_LINE,
    BucketRun,
    Histogram,
    HistogramBuilder,
    PageError,
    bucket_runs,
    number,
)
from exporter.tfserving.histograms import le_seconds as le_seconds  # part of this module's API

REQUEST_COUNT = ":tensorflow:serving:request_count"
REQUEST_LATENCY = ":tensorflow:serving:request_latency"
RUNTIME_LATENCY = ":tensorflow:serving:runtime_latency"
QUEUING_LATENCY = ":tensorflow:serving:batching_session:queuing_latency"
LOAD_ATTEMPTS = ":tensorflow:cc:saved_model:load_attempt_count"
LOAD_LATENCY = ":tensorflow:cc:saved_model:load_latency"
GRAPH_RUNS = ":tensorflow:core:graph_runs"
GRAPH_RUN_TIME = ":tensorflow:core:graph_run_time_usecs"
HISTOGRAMS = frozenset({REQUEST_LATENCY, RUNTIME_LATENCY, QUEUING_LATENCY})
COUNTERS = frozenset({REQUEST_COUNT, LOAD_ATTEMPTS, LOAD_LATENCY, GRAPH_RUNS, GRAPH_RUN_TIME})
WANTED = HISTOGRAMS | COUNTERS
# A model's request data: when lines of these are dropped, the target's scrape is not a success.
REQUEST_FAMILIES = frozenset({REQUEST_COUNT, REQUEST_LATENCY})
MAX_LABEL_VALUE = 256

_SUFFIXES = ("_bucket", "_sum", "_count")
# Sample names -> family; prometheus-client writes a counter `x` as `x_total` (its TYPE line too).
_COUNTER_NAMES = {name: name for name in COUNTERS} | {f"{name}_total": name for name in COUNTERS}
_HISTOGRAM_NAMES = {f"{name}{suffix}": (name, suffix) for name in HISTOGRAMS for suffix in _SUFFIXES}
_TYPE_NAMES = {**_COUNTER_NAMES, **{name: name for name in HISTOGRAMS}}
_SAMPLE_NAMES = (*_COUNTER_NAMES, *_HISTOGRAM_NAMES)
# Quoted values as an unrolled loop ("[^"\\]*(\\.[^"\\]*)*"): twice as fast as an alternation per character.
_LABEL_SET = r'(?:[A-Za-z_][A-Za-z0-9_]*="[^"\\\n]*(?:\\.[^"\\\n]*)*",?)*'
_SAMPLE = re.compile(
    r"([A-Za-z_:][A-Za-z0-9_:]*)(?:\{(" + _LABEL_SET + r")\})?[ \t]+([^ \t]+)(?:[ \t]+-?[0-9]+)?[ \t]*"
)
_LABELS = re.compile(_LABEL_SET)
_LABEL = re.compile(r'([A-Za-z_][A-Za-z0-9_]*)="([^"\\\n]*(?:\\.[^"\\\n]*)*)"')
_TYPE = re.compile(r"# TYPE ([A-Za-z_:][A-Za-z0-9_:]*) ([a-z]+)[ \t]*")
_NAME = re.compile(r"[ \t]*([A-Za-z_:][A-Za-z0-9_:]*)")
_UNESCAPE = re.compile(r"\\(.)")
_TYPE_LINE = "\n# TYPE "
_POLL = ',API="",'  # in TF's bucket lines, where `le` follows every other label


@dataclass(frozen=True)
class Sample:
    labels: dict[str, str]
    value: float


@dataclass
class ServingPage:
    """The families of one page the exporter uses, keyed by TF Serving's family name, and what was dropped."""

    samples: dict[str, list[Sample]] = field(default_factory=dict)
    histograms: dict[str, list[Histogram]] = field(default_factory=dict)
    dropped: dict[str, int] = field(default_factory=dict)  # lines by reason (DROP_REASONS)
    lost: set[str] = field(default_factory=set)  # used families some of whose lines were dropped
    declared: set[str] = field(default_factory=set)  # used families with a TYPE line or a sample
    recognised: bool = False  # whether any line was a valid TYPE or sample line
    _model_names: frozenset[str] | None = field(default=None, init=False, repr=False, compare=False)

    def scalar(self, family: str) -> list[Sample]:
        return self.samples.get(family, [])

    def histogram(self, family: str) -> list[Histogram]:
        return self.histograms.get(family, [])

    def drop(self, reason: str, family: str = "", lines: int = 1) -> None:
        self.dropped[reason] = self.dropped.get(reason, 0) + lines
        if family:
            self.lost.add(family)

    def problem(self, models_expected: bool) -> tuple[str, str] | None:
        """(reason, detail) when the page's request data cannot be trusted, else None.

        `models_expected`: models are configured for the target, so the page must hold request counts
        (TF Serving 2.5+ declares the family even before the first request).
        """
        lost = sorted(self.lost & REQUEST_FAMILIES)
        if lost:
            reasons = ", ".join(f"{count} {reason}" for reason, count in sorted(self.dropped.items()))
            return "dropped_lines", f"lines of {' and '.join(lost)} could not be used ({reasons})"
        if REQUEST_COUNT in self.declared:
            return None
        if not self.recognised:
            return "no_request_data", "the page holds no metric (empty, or not a metrics page)"
        if models_expected:
            return "no_request_data", f"the page has no {REQUEST_COUNT} (TF Serving before 2.5?)"
        return None

    def model_names(self) -> frozenset[str]:
        """Models the page reveals: served successfully, or loaded from a version folder."""
        if self._model_names is None:  # asked several times per scrape; the page does not change
            self._model_names = frozenset(self._reveal())
        return self._model_names

    def _reveal(self) -> set[str]:
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


def split_model_path(path: str) -> tuple[str, str]:
    """`/models/bert/16` -> ("bert", "16"); a path that is not a version folder -> (its last part, "")."""
    parts = path.rstrip("/").rsplit("/", 2)
    if len(parts) >= 2 and parts[-1].isdigit():
        return parts[-2], parts[-1]
    return parts[-1], ""


def _labels(text: str) -> dict[str, str]:
    if not text:
        return {}
    labels: dict[str, str] = {}
    for name, raw in _LABEL.findall(text):
        if len(raw) > MAX_LABEL_VALUE:
            raise PageError(f"label {name} longer than {MAX_LABEL_VALUE} characters", reason="too_long")
        labels[name] = _UNESCAPE.sub(lambda m: "\n" if m[1] == "n" else m[1], raw) if "\\" in raw else raw
    return labels


def parse_page(text: str) -> ServingPage:
    """Parse a whole page; lines that cannot be used are dropped and counted in `dropped`.

    The page is cut at its `# TYPE` lines: a family this module does not use is skipped unread (most of
    a page: per-stage load latencies, warmup histograms) unless other names hide among its lines; the
    lines of the families used, and anything before the first `# TYPE`, are read in full.
    """
    page = ServingPage()
    if "\r" in text:
        text = text.replace("\r\n", "\n")
    if text and not text.endswith("\n"):  # cut off: the last line may be part of one
        cut = text.rfind("\n") + 1
        page.drop("malformed", _family_of(text[cut:]))
        text = text[:cut]
    seen: set[tuple[str, str]] = set()  # counter series by family and label text
    # Histogram series by family and label text without `le` (bucket lines repeat it: labels parsed once),
    # for the whole page: a series split by a stray TYPE line is joined again.
    pending: dict[tuple[str, str], HistogramBuilder] = {}
    # Sections are found, not split off: only the families used are copied out of the page.
    at = 0 if text.startswith("# TYPE ") else _next_type_line(text, 0)
    _parse_lines(page, "", "", text[:at].split("\n"), seen, pending)
    while at < len(text):  # `at`: where a `# TYPE` line starts
        end = text.find("\n", at)  # found: the page ends with a newline
        stop = _next_type_line(text, end)
        match = _TYPE.fullmatch(text, at, end) if end - at <= MAX_LINE else None
        name, family_type = (match[1], match[2]) if match else ("", "")
        family = _TYPE_NAMES.get(name, "")
        if match is None:
            page.drop("malformed" if end - at <= MAX_LINE else "too_long")
        else:
            page.recognised = True
            if family:
                page.declared.add(family)
        if family or _holds_other_names(text, end + 1, stop, name):
            _parse_lines(page, family, family_type, text[end + 1 : stop].split("\n"), seen, pending)
        at = stop
    _build(page, pending)
    return page


def _next_type_line(text: str, start: int) -> int:
    """Where the next `# TYPE` line after `start` begins, or the end of the page."""
    found = text.find(_TYPE_LINE, start)
    return len(text) if found < 0 else found + 1


_PREFIXES_USED: dict[str, bool] = {}


def _holds_other_names(text: str, start: int, stop: int, name: str) -> bool:
    """Whether the lines in `text[start:stop]`, after the TYPE line of unused family `name`, hold more than
    its own samples and comments: samples of a used family without a TYPE line of their own. Counted in C,
    without copying the section out of the page."""
    prefix_used = _PREFIXES_USED.get(name)
    if prefix_used is None:
        prefix_used = not name or any(used.startswith(name) for used in _SAMPLE_NAMES)
        if len(_PREFIXES_USED) < 4096:
            _PREFIXES_USED[name] = prefix_used
    if prefix_used:
        return True
    if start >= stop:
        return False
    lines, own = text.count("\n", start, stop), text.count("\n" + name, start - 1, stop)
    return own != lines and own + text.count("\n#", start - 1, stop) != lines


def _parse_lines(
    page: ServingPage,
    family: str,
    family_type: str,
    lines: list[str],
    seen: set[tuple[str, str]],
    pending: dict[tuple[str, str], HistogramBuilder],
) -> None:
    """Parse the lines after one TYPE line (family "" when it is not a used one, or before the first)."""
    rest = lines
    if family in HISTOGRAMS and family_type == "histogram":
        runs = bucket_runs(family + "_bucket{", lines, skip=_POLL)
        if runs is not None and _take_runs(pending, family, runs[0]):
            rest = [lines[i] for i in runs[1]]
    for line in rest:
        if line:
            try:
                _parse_line(page, line, pending, seen)
            except PageError as exc:
                page.drop(exc.reason, _family_of(line))


def _build(page: ServingPage, pending: dict[tuple[str, str], HistogramBuilder]) -> None:
    """Check and convert every histogram series; a broken one is dropped whole."""
    for (name, _), builder in pending.items():
        try:
            repeated = builder.duplicates()
            if repeated:
                page.drop("duplicate", name, repeated)
            page.histograms.setdefault(name, []).append(builder.build(name))
        except PageError as exc:
            page.drop(exc.reason, name, builder.lines)


def _parse_line(
    page: ServingPage,
    line: str,
    pending: dict[tuple[str, str], HistogramBuilder],
    seen: set[tuple[str, str]],
) -> None:
    """Take one line; raise PageError when it cannot be used."""
    if line[0] in " \t":  # leading blanks are allowed
        line = line.lstrip(" \t")
    if not line or line[0] == "#":
        return
    if len(line) > MAX_LINE:
        raise PageError(f"longer than {MAX_LINE} characters", reason="too_long")
    match = _SAMPLE.fullmatch(line)
    if match is None:
        raise PageError(f"not a sample line: {line[:60]!r}")
    page.recognised = True
    name, label_text, raw_value = match[1], match[2] or "", match[3]
    counter = _COUNTER_NAMES.get(name)
    if counter is not None:
        if (counter, label_text) in seen:
            raise PageError(f"duplicate series {name}{{{label_text}}}", reason="duplicate")
        value = number(raw_value, 0)
        if not 0 <= value < math.inf:  # NaN fails too
            raise PageError(f"counter {name} of {raw_value[:40]}", reason="invalid_value")
        labels = _labels(label_text)
        seen.add((counter, label_text))
        page.declared.add(counter)
        page.samples.setdefault(counter, []).append(Sample(labels, value))
        return
    part = _HISTOGRAM_NAMES.get(name)
    if part is None:
        return  # a family not used
    family, suffix = part
    bound: str | None = None
    if suffix == "_bucket":
        label_text, bound = _split_le(label_text)
    if not _is_poll(label_text):
        _builder(pending, family, label_text).add(suffix, bound, raw_value, 0)


def _family_of(line: str) -> str:
    """The used family a line names, if any: a dropped line of it makes its data incomplete."""
    match = _NAME.match(line)
    if match is None:
        return ""
    name = match[1]
    return _COUNTER_NAMES.get(name) or _HISTOGRAM_NAMES.get(name, ("",))[0]


def _take_runs(pending: dict[tuple[str, str], HistogramBuilder], family: str, runs: list[BucketRun]) -> bool:
    """Add the bucket runs to their series; False, adding nothing, when some labels are wrong (the line
    parser then takes the lines, and drops the wrong ones)."""
    fresh: dict[tuple[str, str], HistogramBuilder] = {}
    for run in runs:
        key = (family, run.label_text)
        if key in pending or key in fresh or _is_poll(run.label_text):
            continue
        if not _LABELS.fullmatch(run.label_text):
            return False
        try:
            fresh[key] = HistogramBuilder(_labels(run.label_text))
        except PageError:
            return False
    pending.update(fresh)
    for run in runs:
        builder = pending.get((family, run.label_text))
        if builder is not None:  # None: a poll
            builder.les.extend(run.les)
            builder.counts.extend(run.counts)
    return True


def _is_poll(label_text: str) -> bool:
    """Latency of a status or metadata poll (`API=""`, the exporter's own among them): not serving traffic,
    never exported, so skipped like an unused family (a third of the bucket lines of a polled server)."""
    return _POLL in f",{label_text},"


def _builder(
    pending: dict[tuple[str, str], HistogramBuilder], family: str, label_text: str
) -> HistogramBuilder:
    builder = pending.get((family, label_text))
    if builder is None:
        if not _LABELS.fullmatch(label_text):
            raise PageError(f"malformed labels {label_text[:60]!r}")
        builder = pending[(family, label_text)] = HistogramBuilder(_labels(label_text))
    return builder


def _split_le(label_text: str) -> tuple[str, str]:
    """(the other labels' text, le); TF prints `le` last, other writers may not."""
    at = label_text.rfind('le="')
    if (
        at >= 0
        and (at == 0 or label_text[at - 1] == ",")
        and label_text.endswith('"')
        and '"' not in label_text[at + 4 : -1]
    ):
        return label_text[: max(at - 1, 0)], label_text[at + 4 : -1]
    labels = _labels(label_text)
    le = labels.pop("le", None)
    if le is None:
        raise PageError("bucket without le")
    return ",".join(f'{k}="{_escape(v)}"' for k, v in labels.items()), le


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")

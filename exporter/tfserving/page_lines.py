"""TF Serving's metrics page line by line: sample lines and bucket runs into a `ServingPage`.

A counter sample goes to `ServingPage.samples` at once; histogram lines collect per series in a
`HistogramBuilder` (`pending`) until the whole page is read. A line that cannot be used raises `PageError`,
which `exporter.tfserving.page` counts as dropped.
"""

from __future__ import annotations

import math
import re

from exporter.tfserving.histograms import MAX_LINE, BucketRun, HistogramBuilder, PageError, number
from exporter.tfserving.page_data import COUNTERS, HISTOGRAMS, Sample, ServingPage

MAX_LABEL_VALUE = 256

_SUFFIXES = ("_bucket", "_sum", "_count")
# Sample names -> family; prometheus-client writes a counter `x` as `x_total` (its TYPE line too).
_COUNTER_NAMES = {name: name for name in COUNTERS} | {f"{name}_total": name for name in COUNTERS}
_HISTOGRAM_NAMES = {f"{name}{suffix}": (name, suffix) for name in HISTOGRAMS for suffix in _SUFFIXES}
TYPE_NAMES = {**_COUNTER_NAMES, **{name: name for name in HISTOGRAMS}}
SAMPLE_NAMES = (*_COUNTER_NAMES, *_HISTOGRAM_NAMES)
# Quoted values as an unrolled loop ("[^"\\]*(\\.[^"\\]*)*"): twice as fast as an alternation per character.
_LABEL_SET = r'(?:[A-Za-z_][A-Za-z0-9_]*="[^"\\\n]*(?:\\.[^"\\\n]*)*",?)*'
_SAMPLE = re.compile(
    r"([A-Za-z_:][A-Za-z0-9_:]*)(?:\{(" + _LABEL_SET + r")\})?[ \t]+([^ \t]+)(?:[ \t]+-?[0-9]+)?[ \t]*"
)
_LABELS = re.compile(_LABEL_SET)
_LABEL = re.compile(r'([A-Za-z_][A-Za-z0-9_]*)="([^"\\\n]*(?:\\.[^"\\\n]*)*)"')
_NAME = re.compile(r"[ \t]*([A-Za-z_:][A-Za-z0-9_:]*)")
_UNESCAPE = re.compile(r"\\(.)")
POLL = ',API="",'  # in TF's bucket lines, where `le` follows every other label


def _labels(text: str) -> dict[str, str]:
    if not text:
        return {}
    labels: dict[str, str] = {}
    for name, raw in _LABEL.findall(text):
        if len(raw) > MAX_LABEL_VALUE:
            raise PageError(f"label {name} longer than {MAX_LABEL_VALUE} characters", reason="too_long")
        labels[name] = _UNESCAPE.sub(lambda m: "\n" if m[1] == "n" else m[1], raw) if "\\" in raw else raw
    return labels


def parse_line(
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


def family_of(line: str) -> str:
    """The used family a line names, if any: a dropped line of it makes its data incomplete."""
    match = _NAME.match(line)
    if match is None:
        return ""
    name = match[1]
    return _COUNTER_NAMES.get(name) or _HISTOGRAM_NAMES.get(name, ("",))[0]


def take_runs(pending: dict[tuple[str, str], HistogramBuilder], family: str, runs: list[BucketRun]) -> bool:
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
    return POLL in f",{label_text},"


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

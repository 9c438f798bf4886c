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

import re

from exporter.tfserving.histograms import MAX_LINE, HistogramBuilder, PageError, bucket_runs
from exporter.tfserving.page_data import HISTOGRAMS, ServingPage
from exporter.tfserving.page_lines import POLL, SAMPLE_NAMES, TYPE_NAMES, family_of, parse_line, take_runs

_TYPE = re.compile(r"# TYPE ([A-Za-z_:][A-Za-z0-9_:]*) ([a-z]+)[ \t]*")
_TYPE_LINE = "\n# TYPE "


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
        page.drop("malformed", family_of(text[cut:]))
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
        family = TYPE_NAMES.get(name, "")
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
        prefix_used = not name or any(used.startswith(name) for used in SAMPLE_NAMES)
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
        runs = bucket_runs(family + "_bucket{", lines, skip=POLL)
        if runs is not None and take_runs(pending, family, runs[0]):
            rest = [lines[i] for i in runs[1]]
    for line in rest:
        if line:
            try:
                parse_line(page, line, pending, seen)
            except PageError as exc:
                page.drop(exc.reason, family_of(line))


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

"""Property tests of the TF Serving page parser: another writer's pages lose nothing; no text makes it raise.

`make test` runs a few dozen examples each; `make fuzz` runs thousands (HYPOTHESIS_PROFILE=fuzz).
"""

from __future__ import annotations

from dataclasses import dataclass

from hypothesis import given
from hypothesis import strategies as st
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, HistogramMetricFamily, Metric, UnknownMetricFamily

from exporter.tfserving import page_data as tf
from exporter.tfserving.histograms import DROP_REASONS, le_seconds
from exporter.tfserving.page import parse_page
from exporter.tfserving.page_data import ServingPage
from tests.fixtures_tfserving import two_models

# The label names TF Serving gives each family the collector uses.
LABELS = {
    tf.REQUEST_COUNT: ("model_name", "status"),
    tf.LOAD_ATTEMPTS: ("model_path", "status"),
    tf.LOAD_LATENCY: ("model_path",),
    tf.GRAPH_RUNS: (),
    tf.GRAPH_RUN_TIME: (),
    tf.REQUEST_LATENCY: ("model_name", "API", "entrypoint"),
    tf.RUNTIME_LATENCY: ("model_name", "API", "runtime"),
    tf.QUEUING_LATENCY: ("thread_pool_name",),
}
# Hostile but encodable label values: quotes, backslashes, newlines, controls, any plane. Short enough that
# escaping keeps them within the parser's 256 characters.
label_values = st.text(st.characters(exclude_categories=["Cs"]), max_size=40)
counts = st.floats(min_value=0, max_value=1e15, allow_nan=False)
timestamps = st.none() | st.floats(min_value=0, max_value=4e9, allow_nan=False)


@dataclass(frozen=True)
class Series:
    labels: tuple[str, ...]
    value: float = 0.0
    buckets: tuple[tuple[str, float], ...] = ()
    sum_value: float = 0.0
    timestamp: float | None = None


@st.composite
def histogram_series(draw: st.DrawFn, names: tuple[str, ...]) -> Series:
    bounds = draw(st.lists(st.floats(min_value=1e-3, max_value=1e12), min_size=0, max_size=6, unique=True))
    increments = draw(st.lists(counts, min_size=len(bounds) + 1, max_size=len(bounds) + 1))
    cumulative, total = [], 0.0
    for increment in increments:
        total += increment
        cumulative.append(total)
    les = [repr(bound) for bound in sorted(bounds)] + ["+Inf"]
    labels = draw(st.tuples(*[label_values for _ in names]))
    if "API" in names:  # API "" marks a status poll, skipped by design
        labels = tuple(value or "predict" for value in labels)
    sum_value = draw(st.floats(min_value=0, max_value=1e15))
    return Series(labels, buckets=tuple(zip(les, cumulative, strict=True)), sum_value=sum_value)


def _series(family: str) -> st.SearchStrategy[list[Series]]:
    names = LABELS[family]
    one = (
        histogram_series(names)
        if family in tf.HISTOGRAMS
        else st.builds(Series, st.tuples(*[label_values for _ in names]), counts, timestamp=timestamps)
    )
    return st.lists(one, max_size=4, unique_by=lambda series: series.labels)


# Per used family: its series, and how it is typed (counter or untyped for scalars); plus unused families.
pages = st.fixed_dictionaries(
    {family: st.tuples(_series(family), st.booleans()) for family in LABELS},
) | st.just({})
noise = st.lists(
    st.sampled_from([":tensorflow:core:direct_session_runs", "process_cpu", ":tensorflow:serving:x"])
)


def _client_family(family: str, series: list[Series], typed: bool) -> Metric:
    names = list(LABELS[family])
    if family in tf.HISTOGRAMS:
        histogram = HistogramMetricFamily(family, "", labels=names)
        for one in series:
            histogram.add_metric(list(one.labels), list(one.buckets), one.sum_value)
        return histogram
    scalar = (
        CounterMetricFamily(family, "", labels=names)
        if typed
        else UnknownMetricFamily(family, "", labels=names)
    )
    for one in series:
        scalar.add_metric(list(one.labels), one.value, timestamp=one.timestamp)
    return scalar


def _written(families: dict[str, tuple[list[Series], bool]], unused: list[str]) -> str:
    class Source:
        def collect(self) -> list[Metric]:
            metrics = [_client_family(name, series, typed) for name, (series, typed) in families.items()]
            for name in unused:
                noise_family = UnknownMetricFamily(name, "Not used.", labels=["x"])
                noise_family.add_metric(['{"odd"}'], 1)
                metrics.append(noise_family)
            return metrics

    registry = CollectorRegistry(auto_describe=False)
    registry.register(Source())
    return generate_latest(registry).decode("utf-8")


Data = tuple[dict[object, object], dict[object, object]]


def _expected(families: dict[str, tuple[list[Series], bool]]) -> Data:
    """The samples and histograms a parser must find, converted as the collector expects."""
    scalars: dict[object, object] = {}
    histograms: dict[object, object] = {}
    for family, (series, _) in families.items():
        for one in series:
            key = (family, frozenset(zip(LABELS[family], one.labels, strict=True)))
            if family in tf.HISTOGRAMS:
                buckets = tuple((le_seconds(le)[0], count) for le, count in one.buckets)
                histograms[key] = (buckets, le_seconds(repr(one.sum_value))[1])
            else:
                scalars[key] = one.value
    return scalars, histograms


def _parsed(page: ServingPage) -> Data:
    scalars = {
        (family, frozenset(sample.labels.items())): sample.value
        for family, samples in page.samples.items()
        for sample in samples
    }
    histograms = {
        (family, frozenset(h.labels.items())): (h.buckets, h.sum_seconds)
        for family, found in page.histograms.items()
        for h in found
    }
    return scalars, histograms


@given(pages, noise)
def test_pages_written_by_prometheus_client_lose_no_sample(
    families: dict[str, tuple[list[Series], bool]], unused: list[str]
) -> None:
    page = parse_page(_written(families, unused))
    assert page.dropped == {}
    assert _parsed(page) == _expected(families)


@given(st.text())
def test_no_text_makes_the_parser_raise(text: str) -> None:
    page = parse_page(text)
    assert all(reason in DROP_REASONS for reason in page.dropped)


@st.composite
def mutated_pages(draw: st.DrawFn) -> str:
    """A real page with a few random edits: cut, insert, duplicate lines, change characters."""
    text = two_models(seed=draw(st.integers(0, 3))).page()
    for _ in range(draw(st.integers(1, 4))):
        at = draw(st.integers(0, len(text)))
        edit = draw(st.sampled_from(["cut", "insert", "duplicate", "replace"]))
        if edit == "cut":
            text = text[:at] + text[at + draw(st.integers(1, 200)) :]
        elif edit == "insert":
            text = text[:at] + draw(st.text(max_size=20)) + text[at:]
        elif edit == "duplicate":
            start = text.rfind("\n", 0, at) + 1
            end = text.find("\n", at) + 1 or len(text)
            text = text[:end] + text[start:end] + text[end:]
        else:
            text = text[:at] + draw(st.characters()) + text[at + 1 :]
    return text


@given(mutated_pages())
def test_no_edit_of_a_real_page_makes_the_parser_raise(text: str) -> None:
    page = parse_page(text)
    assert set(page.dropped) <= set(DROP_REASONS)
    assert page.lost <= tf.WANTED


# Any line that names no family the collector uses: a comment, a TYPE line, garbage, another family.
foreign_lines = st.one_of(
    st.text(st.characters(exclude_characters="\n\r"), max_size=60),
    st.builds(
        lambda name, kind: f"# TYPE {name} {kind}",
        st.from_regex(r"[a-z_:][a-z0-9_:]{0,12}", fullmatch=True),
        st.sampled_from(["counter", "histogram", "untyped", "gauge"]),
    ),
).filter(lambda line: ":tensorflow" not in line)


@given(st.integers(0, 10_000), foreign_lines)
def test_a_foreign_line_anywhere_changes_no_data(position: int, line: str) -> None:
    original = two_models().page()
    lines = original.split("\n")
    at = position % len(lines)
    edited = parse_page("\n".join([*lines[:at], line, *lines[at:]]))
    assert _parsed(edited) == _parsed(parse_page(original))
    assert sum(edited.dropped.values()) <= 1 and not edited.lost

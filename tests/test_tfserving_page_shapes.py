"""Every valid spelling of the text format gives the same data as TF Serving's own page, and drops nothing."""

from __future__ import annotations

import re
from collections.abc import Callable

import pytest

from exporter.tfserving.page import parse_page
from exporter.tfserving.page_data import REQUEST_COUNT, REQUEST_LATENCY, ServingPage
from tests.fixtures_tfserving import two_models

USED_TYPE_LINE = re.compile(
    r"^# TYPE (:tensorflow:(?:serving|core:graph_run|cc:saved_model:load_[al]).*)$", re.M
)


def _data(page: ServingPage) -> tuple[object, object]:
    return page.samples, page.histograms


def _rewrite_values(page: str, rewrite: Callable[[str], str]) -> str:
    """Apply `rewrite` to the value of every sample line."""
    return "\n".join(
        line
        if not line or line.startswith("#")
        else line.rsplit(" ", 1)[0] + " " + rewrite(line.rsplit(" ", 1)[1])
        for line in page.split("\n")
    )


SHAPES: dict[str, Callable[[str], str]] = {
    "without-type-lines": lambda page: re.sub(r"^# TYPE .*\n", "", page, flags=re.M),
    "used-families-without-type-after-others": lambda page: USED_TYPE_LINE.sub("# a comment", page),
    "untyped": lambda page: re.sub(r"^(# TYPE \S+) \w+$", r"\1 untyped", page, flags=re.M),
    "help-only": lambda page: re.sub(
        r"^# TYPE (\S+) \w+$", r"# HELP \1 Some help.\n# just a comment", page, flags=re.M
    ),
    "help-and-type": lambda page: re.sub(
        r"^(# TYPE (\S+) \w+)$", r"# HELP \2 Help with \\\\ and \\n.\n\1", page, flags=re.M
    ),
    "crlf": lambda page: page.replace("\n", "\r\n"),
    "timestamps": lambda page: _rewrite_values(page, lambda value: f"{value} 1700000000000"),
    "exponents": lambda page: _rewrite_values(page, lambda value: f"{float(value):e}"),
    "blank-lines-and-blanks": lambda page: page.replace("\n", " \n\n").replace("} ", "}\t "),
}


@pytest.mark.parametrize("shape", SHAPES.values(), ids=SHAPES.keys())
def test_valid_shapes_give_the_same_data(shape: Callable[[str], str]) -> None:
    state = two_models()
    state.record("bert", "OK", "", "REST", state.poll_latency_us())  # a status poll, skipped in every shape
    original = state.page()
    expected = parse_page(original)
    assert expected.scalar(REQUEST_COUNT) and expected.histogram(REQUEST_LATENCY)
    page = parse_page(shape(original))
    assert page.dropped == {}
    assert _data(page) == _data(expected)
    assert page.problem(models_expected=True) is None


def test_nan_and_inf_are_numbers_where_they_may_be() -> None:
    page = parse_page(
        "# TYPE :tensorflow:serving:request_latency histogram\n"
        ':tensorflow:serving:request_latency_bucket{model_name="m",API="predict",le="10"} 0\n'
        ':tensorflow:serving:request_latency_bucket{model_name="m",API="predict",le="+Inf"} 0\n'
        ':tensorflow:serving:request_latency_sum{model_name="m",API="predict"} NaN\n'
    )
    (histogram,) = page.histogram(REQUEST_LATENCY)
    assert histogram.sum_seconds != histogram.sum_seconds and page.dropped == {}


def test_a_histogram_printed_twice_keeps_the_first() -> None:
    series = (
        ':tensorflow:serving:request_latency_bucket{model_name="m",API="predict",le="10"} 1\n'
        ':tensorflow:serving:request_latency_bucket{model_name="m",API="predict",le="+Inf"} 2\n'
    )
    page = parse_page(
        "# TYPE :tensorflow:serving:request_latency histogram\n" + series + series.replace("2\n", "3\n")
    )
    (histogram,) = page.histogram(REQUEST_LATENCY)
    assert histogram.buckets == (("1e-05", 1), ("+Inf", 2))
    assert page.dropped == {"duplicate": 2}


def test_a_histogram_repeated_in_another_section_is_a_duplicate() -> None:
    section = (
        "# TYPE :tensorflow:serving:request_latency histogram\n"
        ':tensorflow:serving:request_latency_bucket{model_name="m",API="predict",le="+Inf"} 2\n'
    )
    page = parse_page(section + section)
    assert len(page.histogram(REQUEST_LATENCY)) == 1 and page.dropped == {"duplicate": 1}


def test_samples_without_a_type_line_after_an_unused_family_are_read() -> None:
    page = parse_page(
        "# TYPE :tensorflow:core:graph_build_calls counter\n"
        ":tensorflow:core:graph_build_calls{} 3\n"
        ':tensorflow:serving:request_count{model_name="m",status="OK"} 5\n'
    )
    (sample,) = page.scalar(REQUEST_COUNT)
    assert sample.labels == {"model_name": "m", "status": "OK"} and sample.value == 5


def test_counters_named_as_prometheus_client_writes_them_are_read() -> None:
    page = parse_page(
        "# HELP :tensorflow:serving:request_count_total Requests.\n"
        "# TYPE :tensorflow:serving:request_count_total counter\n"
        ':tensorflow:serving:request_count_total{model_name="m",status="OK"} 5.0\n'
        ':tensorflow:serving:request_count_created{model_name="m",status="OK"} 1.7e+09\n'
    )
    assert [s.value for s in page.scalar(REQUEST_COUNT)] == [5]
    assert page.dropped == {} and page.problem(models_expected=True) is None

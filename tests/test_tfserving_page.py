"""Parsing TF Serving's metrics page: the real quirks accepted, garbage rejected, units converted exactly."""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from decimal import Decimal

import pytest

from exporter.tfserving.histograms import le_seconds
from exporter.tfserving.page import parse_page
from exporter.tfserving.page_data import (
    GRAPH_RUNS,
    LOAD_ATTEMPTS,
    LOAD_LATENCY,
    REQUEST_COUNT,
    REQUEST_LATENCY,
    split_model_path,
)
from exporter.tfserving.simulator_format import LATENCY_BOUNDS, six_digits
from tests.fixtures_tfserving import two_models

REAL_PAGE = "tfserving_metrics_2020_bert_two_versions.txt"
# The bounds TF Serving prints for Exponential(10, 1.8, 33), as listed in the upstream notes.
PRINTED_BOUNDS = [
    "10",
    "18",
    "32.4",
    "58.32",
    "104.976",
    "188.957",
    "340.122",
    "612.22",
    "1102",
    "1983.59",
    "3570.47",
    "6426.84",
    "11568.3",
    "20823",
    "37481.3",
    "67466.4",
    "121440",
    "218591",
    "393464",
    "708235",
    "1.27482e+06",
    "2.29468e+06",
    "4.13043e+06",
    "7.43477e+06",
    "1.33826e+07",
    "2.40887e+07",
    "4.33596e+07",
    "7.80473e+07",
    "1.40485e+08",
    "2.52873e+08",
    "4.55172e+08",
    "8.19309e+08",
    "1.47476e+09",
]


def histogram_quantile(q: float, buckets: Sequence[tuple[float, float]]) -> float:
    """Prometheus' histogram_quantile: linear interpolation inside the bucket holding rank q * count."""
    rank = q * buckets[-1][1]
    lower_bound, lower_count = 0.0, 0.0
    for bound, count in buckets:
        if count >= rank:
            if bound == float("inf"):
                return lower_bound
            return lower_bound + (bound - lower_bound) * (rank - lower_count) / (count - lower_count)
        lower_bound, lower_count = bound, count
    raise AssertionError("rank beyond the +Inf bucket")


def test_real_page_parses_with_its_quirks(tfs_fixture: Callable[[str], str]) -> None:
    page = parse_page(tfs_fixture(REAL_PAGE))
    attempts = {(s.labels["model_path"], s.labels["status"]): s.value for s in page.scalar(LOAD_ATTEMPTS)}
    assert attempts == {("/models/bert/16", "success"): 1, ("/models/bert/17", "success"): 1}
    assert [s.value for s in page.scalar(LOAD_LATENCY)] == [8021486, 7960377]
    # `name{} 8`: a label-less series with empty braces.
    assert [(s.labels, s.value) for s in page.scalar(GRAPH_RUNS)] == [({}, 8)]
    assert page.model_names() == {"bert"}
    assert page.scalar(REQUEST_COUNT) == []


def test_printed_bounds_match_the_real_page_and_convert_exactly(tfs_fixture: Callable[[str], str]) -> None:
    real = [
        line.split('le="')[1].split('"')[0]
        for line in tfs_fixture(REAL_PAGE).splitlines()
        if "load_latency_by_stage_bucket" in line
        and 'model_path="/models/bert/16",stage="init_graph"' in line
    ]
    assert real == [*PRINTED_BOUNDS, "+Inf"]
    assert [six_digits(b) for b in LATENCY_BOUNDS] == PRINTED_BOUNDS
    assert le_seconds("1.27482e+06") == ("1.27482", 1.27482)
    assert le_seconds("340.122")[0] == "0.000340122"
    for printed in PRINTED_BOUNDS:
        text, bound = le_seconds(printed)
        assert float(text) == bound == float(Decimal(printed) / Decimal(10**6))
    assert le_seconds("+Inf") == ("+Inf", float("inf"))


def test_histogram_sum_and_buckets_are_in_seconds() -> None:
    page = parse_page(two_models().page())
    (latency,) = [h for h in page.histogram(REQUEST_LATENCY) if h.labels["API"] == "predict"]
    assert latency.labels == {"model_name": "bert", "API": "predict", "entrypoint": "REST"}
    assert latency.buckets[0] == ("1e-05", 0) and latency.buckets[-1][0] == "+Inf"
    assert latency.buckets[20][0] == "1.27482"
    assert 0.001 < latency.sum_seconds / latency.count < 0.05  # a ~5 ms median, in seconds


@pytest.mark.parametrize("q", [0.5, 0.9, 0.95, 0.99])
def test_quantiles_match_the_source_to_the_microsecond(q: float) -> None:
    text = two_models(seed=7).page()
    raw = [
        (float(line.split('le="')[1].split('"')[0]), float(line.rsplit(" ", 1)[1]))
        for line in text.splitlines()
        if line.startswith(":tensorflow:serving:request_latency_bucket")
        and 'model_name="bert",API="predict"' in line
    ]
    (converted,) = [h for h in parse_page(text).histogram(REQUEST_LATENCY) if h.labels["API"] == "predict"]
    seconds = [(float(le), count) for le, count in converted.buckets]
    assert abs(histogram_quantile(q, seconds) * 1e6 - histogram_quantile(q, raw)) < 1e-3


@pytest.mark.parametrize("le_first", [False, True], ids=["tf-form", "le-first"])
def test_latency_of_status_polls_is_skipped(le_first: bool) -> None:
    state = two_models()
    state.record("bert", "OK", "", "REST", state.poll_latency_us())  # what a status poll leaves
    text = state.page()
    if le_first:  # the same page in another writer's label order takes the line-by-line parser
        text = re.sub(r'\{(.*),(le="[^"]*")\}', r"{\2,\1}", text)
    assert ',API="",' in text and (",le=" not in text) == le_first
    page = parse_page(text)
    apis = {(h.labels["model_name"], h.labels["API"]) for h in page.histogram(REQUEST_LATENCY)}
    assert apis == {("bert", "predict"), ("resnet", "Predict")}
    assert page.model_names() == {"bert", "resnet"}


def test_unknown_families_are_ignored_and_escapes_undone() -> None:
    page = parse_page(
        "# TYPE :tensorflow:core:graph_optimization_usecs counter\n"
        ':tensorflow:core:graph_optimization_usecs{kind="Grappler",name="x"} 124997\n'
        "# TYPE :tensorflow:serving:request_count counter\n"
        ':tensorflow:serving:request_count{model_name="we\\"ird\\\\name",status="OK"} 3\n'
    )
    assert page.samples.keys() == {REQUEST_COUNT}
    assert page.scalar(REQUEST_COUNT)[0].labels["model_name"] == 'we"ird\\name'


def test_client_style_page_with_help_and_timestamps_is_accepted() -> None:
    page = parse_page(
        "# HELP :tensorflow:serving:request_count Requests.\n"
        "# TYPE :tensorflow:serving:request_count counter\n"
        ':tensorflow:serving:request_count{model_name="m",status="OK"} 5 1700000000000\n'
    )
    assert page.scalar(REQUEST_COUNT)[0].value == 5


def test_bucket_lines_with_le_first_take_the_full_parser() -> None:
    page = parse_page(
        "# TYPE :tensorflow:serving:request_latency histogram\n"
        ':tensorflow:serving:request_latency_bucket{le="10",model_name="m",API="predict"} 1\n'
        ':tensorflow:serving:request_latency_bucket{le="+Inf",model_name="m",API="predict"} 2\n'
        ':tensorflow:serving:request_latency_sum{model_name="m",API="predict"} 30\n'
        ':tensorflow:serving:request_latency_count{model_name="m",API="predict"} 2\n'
    )
    (histogram,) = page.histogram(REQUEST_LATENCY)
    assert histogram.buckets == (("1e-05", 1), ("+Inf", 2)) and histogram.sum_seconds == 3e-05


def test_model_names_come_from_ok_traffic_and_load_paths_only() -> None:
    page = parse_page(
        "# TYPE :tensorflow:serving:request_count counter\n"
        ':tensorflow:serving:request_count{model_name="typo",status="NOT_FOUND"} 9\n'
        ':tensorflow:serving:request_count{model_name="bert",status="OK"} 1\n'
        "# TYPE :tensorflow:cc:saved_model:load_attempt_count counter\n"
        ':tensorflow:cc:saved_model:load_attempt_count{model_path="gs://b/models/resnet/3",status="fail"} 6\n'
    )
    assert page.model_names() == {"bert", "resnet"}


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        ("/models/bert/16", ("bert", "16")),
        ("s3://bucket/m/resnet/3/", ("resnet", "3")),
        ("/models/bert", ("bert", "")),
    ],
)
def test_split_model_path(path: str, expected: tuple[str, str]) -> None:
    assert split_model_path(path) == expected


HIST = "# TYPE :tensorflow:serving:request_latency histogram\n"
LABELS = 'model_name="m",API="predict",entrypoint="REST"'


@pytest.mark.parametrize(
    "bucket",
    [
        ':tensorflow:serving:request_latency_bucket{le="10"} 1',
        f':tensorflow:serving:request_latency_bucket{{{LABELS},le="10"}} 1 1700000000000',
        f':tensorflow:serving:request_latency_bucket{{{LABELS},le="10",}} 1',
    ],
    ids=["no-other-labels", "timestamp", "trailing-comma"],
)
def test_bucket_lines_in_other_valid_forms_are_accepted(bucket: str) -> None:
    labels = bucket.split("{", 1)[1].split('le="')[0].rstrip(",")
    page = parse_page(
        f"{HIST}{bucket}\n"
        f':tensorflow:serving:request_latency_bucket{{{labels}{"," if labels else ""}le="+Inf"}} 2\n'
    )
    (histogram,) = page.histogram(REQUEST_LATENCY)
    assert histogram.buckets == (("1e-05", 1), ("+Inf", 2))


RC = "# TYPE :tensorflow:serving:request_count counter\n"


@pytest.mark.parametrize(
    ("body", "dropped", "lost"),
    [
        ("<html>\x00\ufffd garbage {{{\n", {"malformed": 1}, set()),
        (RC + ":tensorflow:serving:request_count{} 1", {"malformed": 1}, {REQUEST_COUNT}),
        (RC + ":tensorflow:serving:request_count{} x1\n", {"malformed": 1}, {REQUEST_COUNT}),
        ("# TYPE x\n", {"malformed": 1}, set()),
        ("# TYPE a counter\na 1\n\n# TYPE x\n", {"malformed": 1}, set()),
        (
            "# TYPE :tensorflow:core:graph_optimization_usecs counter\n"
            + ':tensorflow:core:graph_optimization_usecs{kind="Grappler"} 1\n' * 3
            + RC
            + ":tensorflow:serving:request_count{} x1\n",
            {"malformed": 1},
            {REQUEST_COUNT},
        ),
        (
            HIST + f':tensorflow:serving:request_latency_bucket{{{LABELS},le="10"}} 1\n',
            {"invalid_histogram": 1},
            {REQUEST_LATENCY},
        ),
        (
            HIST + f':tensorflow:serving:request_latency_bucket{{{LABELS},le="10"}} 2\n'
            f':tensorflow:serving:request_latency_bucket{{{LABELS},le="+Inf"}} 1\n',
            {"invalid_histogram": 2},
            {REQUEST_LATENCY},
        ),
        (
            HIST + f':tensorflow:serving:request_latency_bucket{{{LABELS},le="+Inf"}} 1\n'
            f":tensorflow:serving:request_latency_count{{{LABELS}}} 2\n",
            {"invalid_histogram": 2},
            {REQUEST_LATENCY},
        ),
        (
            RC + ':tensorflow:serving:request_count{model_name="m",status="OK"} 1\n'
            ':tensorflow:serving:request_count{model_name="m",status="OK"} 2\n',
            {"duplicate": 1},
            {REQUEST_COUNT},
        ),
        (
            RC + f':tensorflow:serving:request_count{{model_name="{"m" * 300}"}} 1\n',
            {"too_long": 1},
            {REQUEST_COUNT},
        ),
        (RC + ":tensorflow:serving:request_count{}" + " " * 5000 + "1\n", {"too_long": 1}, {REQUEST_COUNT}),
        (
            HIST + f':tensorflow:serving:request_latency_bucket{{{LABELS},le="20"}} 1\n'
            f':tensorflow:serving:request_latency_bucket{{{LABELS},le="10"}} 1\n'
            f':tensorflow:serving:request_latency_bucket{{{LABELS},le="+Inf"}} 1\n',
            {"invalid_histogram": 3},
            {REQUEST_LATENCY},
        ),
        (
            "# HELP x y\n" + HIST + f':tensorflow:serving:request_latency_bucket{{{LABELS},le="10"}} 1\n'
            f':tensorflow:serving:request_latency_bucket{{{LABELS},le="+Inf"}} x1\n',
            {"malformed": 1, "invalid_histogram": 1},
            {REQUEST_LATENCY},
        ),
        (
            RC + ':tensorflow:serving:request_count{model_name="m",status="OK"} -1\n',
            {"invalid_value": 1},
            {REQUEST_COUNT},
        ),
        (
            RC + ':tensorflow:serving:request_count{model_name="m",status="OK"} -Inf\n',
            {"invalid_value": 1},
            {REQUEST_COUNT},
        ),
        (
            RC + ':tensorflow:serving:request_count{model_name="m",status="OK"} NaN\n',
            {"invalid_value": 1},
            {REQUEST_COUNT},
        ),
        (
            HIST + f':tensorflow:serving:request_latency_bucket{{{LABELS},le="10"}} NaN\n'
            f':tensorflow:serving:request_latency_bucket{{{LABELS},le="+Inf"}} 1\n',
            {"invalid_histogram": 2},
            {REQUEST_LATENCY},
        ),
    ],
)
def test_lines_that_cannot_be_used_are_dropped_and_counted(
    body: str, dropped: dict[str, int], lost: set[str]
) -> None:
    page = parse_page(body)
    assert page.dropped == dropped
    assert page.lost == lost


@pytest.mark.parametrize(
    ("body", "models_expected", "reason"),
    [
        ("", False, "no_request_data"),
        ("\n\n", False, "no_request_data"),
        ("<html>not metrics</html>\n", False, "no_request_data"),
        (
            "# TYPE :tensorflow:core:graph_runs counter\n:tensorflow:core:graph_runs{} 8\n",
            True,
            "no_request_data",
        ),
        ("# TYPE :tensorflow:core:graph_runs counter\n:tensorflow:core:graph_runs{} 8\n", False, None),
        (RC, True, None),  # declared before any request: no traffic yet
        (RC + ':tensorflow:serving:request_count{model_name="m",status="OK"} -3\n', False, "dropped_lines"),
        (
            HIST + f':tensorflow:serving:request_latency_bucket{{{LABELS},le="10"}} 1\n' + RC,
            False,
            "dropped_lines",
        ),
        (RC + ':tensorflow:cc:saved_model:load_latency{model_path="/m/1"} -3\n', True, None),
    ],
    ids=[
        "empty",
        "blank",
        "not-metrics",
        "no-request-count-for-a-configured-model",
        "no-request-count-nothing-configured",
        "no-traffic-yet",
        "request-count-dropped",
        "request-latency-dropped",
        "other-family-dropped",
    ],
)
def test_problem_says_when_request_data_cannot_be_trusted(
    body: str, models_expected: bool, reason: str | None
) -> None:
    problem = parse_page(body).problem(models_expected)
    assert (problem[0] if problem else None) == reason


def test_the_rest_of_a_page_survives_a_bad_line() -> None:
    page = parse_page(
        HIST + f':tensorflow:serving:request_latency_bucket{{{LABELS},le="+Inf"}} 1\n'
        f':tensorflow:serving:request_latency_bucket{{model_name="m",API=predict,le="+Inf"}} 1\n'
        + RC
        + ':tensorflow:serving:request_count{model_name="m",status="OK"} 1\n'
        + ':tensorflow:serving:request_count{model_name="m",status="OK"} 2\n'
    )
    assert [h.labels for h in page.histogram(REQUEST_LATENCY)] == [
        {"model_name": "m", "API": "predict", "entrypoint": "REST"}
    ]
    assert [s.value for s in page.scalar(REQUEST_COUNT)] == [1]  # the first of a repeated series
    assert page.dropped == {"malformed": 1, "duplicate": 1}

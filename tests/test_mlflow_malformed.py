"""Nothing MLflow answers can break a refresh: an answer of an unexpected shape or type, at any depth,
fails only the sections that read it, is counted as malformed, and is logged as one line without a
traceback. Answers come from a stub session, so hundreds of them cost a second."""

from __future__ import annotations

import copy
import logging
import re
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from exporter.mlflow.source import parse_experiment, parse_model, parse_run, parse_version
from exporter.mlflow.typed_json import Malformed, Obj
from tests.helpers import value
from tests.mlflow_stubs import (
    SECTIONS,
    SECTIONS_OF,
    WELL_FORMED,
    ManualClock,
    StubSession,
    build_collector,
    errors,
    json_answer,
    read_once,
    read_sections,
    refreshed_page,
)

ENDPOINTS = sorted(SECTIONS_OF)
# Threads per refresh make timings vary; caplog is reset by hand for each example.
PROPERTY = settings(deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


def unread_after_bad(endpoint: str) -> set[str]:
    """The sections a bad answer from `endpoint` leaves unread: those that read it, and the baseline after
    a failed registry."""
    return SECTIONS_OF[endpoint] | ({"baseline"} if "registry" in SECTIONS_OF[endpoint] else set())


def refresh_with(endpoint: str, document: Any) -> tuple[str, StubSession]:
    session = StubSession({endpoint: json_answer(document)})
    return read_once(build_collector(session))[0], session


UNSAFE = re.compile(r"[\x00-\x08\x0a-\x1f\x7f]")


def warnings(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]


def assert_no_traceback(caplog: pytest.LogCaptureFixture) -> None:
    assert [r.getMessage() for r in caplog.records if r.exc_info] == []
    assert "internal error" not in caplog.text
    assert [m for m in warnings(caplog) if UNSAFE.search(m)] == []  # one printable line each


def assert_failed_as_malformed(page: str, endpoint: str, caplog: pytest.LogCaptureFixture) -> None:
    assert value(page, "mlflow_up") == 0
    # One request per section that reads the endpoint: each stops at its first bad answer.
    assert errors(page, endpoint, "malformed") == len(SECTIONS_OF[endpoint])
    assert read_sections(page) == set(SECTIONS) - unread_after_bad(endpoint)
    logged = warnings(caplog)
    assert len(logged) == 1 and "malformed" in logged[0], logged
    assert_no_traceback(caplog)


def test_the_well_formed_answers_read_every_section(caplog: pytest.LogCaptureFixture) -> None:
    page, session = refresh_with("runs/get", WELL_FORMED["runs/get"])
    assert value(page, "mlflow_up") == 1
    assert read_sections(page) == set(SECTIONS)
    assert set(session.calls) == set(ENDPOINTS)  # the fixtures below reach every endpoint
    assert value(page, "mlflow_model_alias_version", model="fraud-detector", alias="production") == 2
    assert value(page, "mlflow_model_offline_metric", metric="val_auc") == pytest.approx(0.91)
    assert warnings(caplog) == []


def replaced(document: Any, path: tuple[Any, ...], new: Any) -> Any:
    changed = copy.deepcopy(document)
    if not path:
        return new
    parent = changed
    for step in path[:-1]:
        parent = parent[step]
    parent[path[-1]] = new
    return changed


@pytest.mark.parametrize(
    ("endpoint", "path", "bad", "where"),
    [
        ("registered-models/search", ("registered_models", 0, "aliases"), 5, "registered_models[0].aliases"),
        ("registered-models/search", ("registered_models", 0, "name"), None, "registered_models[0].name"),
        ("model-versions/search", ("model_versions", 0, "version"), "one", "model_versions[0].version"),
        ("model-versions/search", ("model_versions", 0, "version"), 2.5, "model_versions[0].version"),
        ("model-versions/search", ("model_versions", 0, "creation_timestamp"), 1e400, "creation_timestamp"),
        ("registered-models/search", ("registered_models", 0, "aliases", 0, "version"), 10**400, "version"),
        ("runs/get", ("run", "data", "tags", 0, "value"), {"a": 1}, "run.data.tags[0].value"),
        ("runs/get", ("run", "data", "metrics", 0, "value"), 10**400, "run.data.metrics[0].value"),
        ("experiments/get-by-name", ("experiment",), "train-fraud", "experiment is a string"),
        ("experiments/get-by-name", ("experiment", "experiment_id"), 1, "experiment.experiment_id"),
        ("runs/search", ("runs", 0, "info", "end_time"), [1], "runs[0].info.end_time"),
    ],
)
def test_a_value_of_the_wrong_type_fails_its_section_as_malformed_naming_where(
    caplog: pytest.LogCaptureFixture, endpoint: str, path: tuple[Any, ...], bad: Any, where: str
) -> None:
    page, _ = refresh_with(endpoint, replaced(WELL_FORMED[endpoint], path, bad))
    assert_failed_as_malformed(page, endpoint, caplog)
    assert where in caplog.text


@pytest.mark.parametrize("number", ["1e400", "-1e400", "Infinity", "NaN", "1" * 5000])
@pytest.mark.parametrize("field", ["version", "creation_timestamp"])
def test_unbounded_numbers_are_malformed(caplog: pytest.LogCaptureFixture, number: str, field: str) -> None:
    version = {"name": "fraud-detector", "version": "2", field: "NUMBER"}
    body = json_answer({"model_versions": [version]})[2].replace(b'"NUMBER"', number.encode())
    page, _ = read_once(build_collector(StubSession({"model-versions/search": (200, {}, body)})))
    assert_failed_as_malformed(page, "model-versions/search", caplog)


def test_nesting_deeper_than_the_decoder_is_malformed_not_a_crash(caplog: pytest.LogCaptureFixture) -> None:
    session = StubSession({"registered-models/search": (200, {}, b"[" * 200_000)})
    page, _ = read_once(build_collector(session))
    assert_failed_as_malformed(page, "registered-models/search", caplog)


def test_unknown_fields_and_missing_optional_ones_are_read_leniently(
    caplog: pytest.LogCaptureFixture,
) -> None:
    version = {"name": "fraud-detector", "version": "2", "tags": [{"key": "k"}], "future_field": {"x": [1]}}
    page, _ = refresh_with("model-versions/search", {"model_versions": [version], "next": None})
    assert value(page, "mlflow_up") == 1
    assert value(page, "mlflow_model_version_info", model="fraud-detector", version="2", status="READY") == 1
    assert warnings(caplog) == []


def test_metric_values_proto_json_cannot_encode_are_skipped() -> None:
    run = replaced(WELL_FORMED["runs/get"], ("run", "data", "metrics", 0, "value"), "NaN")
    page, _ = refresh_with("runs/get", run)
    assert value(page, "mlflow_up") == 1
    assert value(page, "mlflow_model_offline_metric", metric="val_auc") is None


def test_the_same_bad_answer_again_logs_nothing_new(caplog: pytest.LogCaptureFixture) -> None:
    bad = replaced(WELL_FORMED["model-versions/search"], ("model_versions", 0, "version"), "one")
    clock = ManualClock()
    collector = build_collector(StubSession({"model-versions/search": json_answer(bad)}), clock=clock)
    try:
        first = refreshed_page(collector)
        clock.now += collector.settings.refresh_interval
        second = refreshed_page(collector)
    finally:
        collector.close()
    assert errors(second, "model-versions/search", "malformed") == 2
    assert len(warnings(caplog)) == 1
    assert value(first, "mlflow_up") == value(second, "mlflow_up") == 0


# -- Properties -------------------------------------------------------------------------------------------


def paths(document: Any, prefix: tuple[Any, ...] = ()) -> Iterator[tuple[tuple[Any, ...], Any]]:
    """Every node of a JSON document with its path, the root included."""
    yield prefix, document
    if isinstance(document, dict | list):
        children = document.items() if isinstance(document, dict) else enumerate(document)
        for key, child in children:
            yield from paths(child, (*prefix, key))


def _wrong_types(original: Any) -> st.SearchStrategy[Any]:
    """Values of a JSON type the exporter never accepts where `original` stands (numeric strings and
    integer versions are accepted, so strings and numbers never replace each other)."""
    scalars = st.booleans() | st.just([]) | st.dictionaries(st.text(max_size=3), st.integers(), max_size=2)
    if isinstance(original, dict):
        return st.booleans() | st.integers() | st.text() | st.lists(st.integers(), max_size=2)
    if isinstance(original, list):
        return st.booleans() | st.integers() | st.text() | st.just({"x": 1})
    return scalars


@st.composite
def mutations(draw: st.DrawFn) -> tuple[str, tuple[Any, ...], Any]:
    endpoint = draw(st.sampled_from(ENDPOINTS))
    path, original = draw(st.sampled_from(list(paths(WELL_FORMED[endpoint]))))
    return endpoint, path, draw(_wrong_types(original))


@PROPERTY
@given(mutation=mutations())
def test_a_wrong_type_anywhere_in_any_answer_fails_only_its_sections_as_malformed(
    caplog: pytest.LogCaptureFixture, mutation: tuple[str, tuple[Any, ...], Any]
) -> None:
    caplog.clear()
    endpoint, path, bad = mutation
    page, _ = refresh_with(endpoint, replaced(WELL_FORMED[endpoint], path, bad))
    assert_failed_as_malformed(page, endpoint, caplog)


KNOWN_KEYS = sorted(
    {
        key
        for document in WELL_FORMED.values()
        for path, _ in paths(document)
        for key in path
        if isinstance(key, str)
    }
    | {"next_page_token", "run_uuid", "error_code", "message"}
)


def _containers(children: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    """Lists and objects, the objects keyed mostly by the fields the exporter reads."""
    keys = st.sampled_from(KNOWN_KEYS) | st.text(max_size=4)
    return st.lists(children, max_size=3) | st.dictionaries(keys, children, max_size=4)


json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(10**30), max_value=10**30)
    | st.sampled_from([10**400, -(10**400)])
    | st.floats()
    | st.text(max_size=8)
    | st.sampled_from(["2", "one", "NaN", "Infinity", "1e400", "", "\x1b[31m"]),
    _containers,
    max_leaves=12,
)


def assert_failed_by_kind_or_read(page: str, endpoint: str) -> None:
    """Only the sections that read `endpoint` may fail, and only with a counted malformed or pagination error
    (a page token that comes back again): `{}` and many other answers are valid, empty results."""
    failed = set(SECTIONS) - read_sections(page)
    assert failed <= unread_after_bad(endpoint)
    counted = errors(page, endpoint, "malformed") + errors(page, endpoint, "pagination")
    assert counted >= 1 if failed else counted == 0
    assert value(page, "mlflow_up") == (0 if failed else 1)


@PROPERTY
@given(endpoint=st.sampled_from(ENDPOINTS), document=json_values)
def test_any_json_as_any_answer_is_read_or_fails_by_kind_without_a_traceback(
    caplog: pytest.LogCaptureFixture, endpoint: str, document: Any
) -> None:
    caplog.clear()
    page, _ = refresh_with(endpoint, document)
    assert_failed_by_kind_or_read(page, endpoint)
    assert_no_traceback(caplog)


@PROPERTY
@given(
    endpoint=st.sampled_from(ENDPOINTS), body=st.binary(max_size=64), status=st.sampled_from([200, 404, 500])
)
def test_any_bytes_as_any_answer_are_read_or_fail_by_kind_without_a_traceback(
    caplog: pytest.LogCaptureFixture, endpoint: str, body: bytes, status: int
) -> None:
    caplog.clear()
    page, _ = read_once(build_collector(StubSession({endpoint: (status, {}, body)})))
    assert_no_traceback(caplog)
    if status == 200:
        assert_failed_by_kind_or_read(page, endpoint)
    else:
        assert errors(page, endpoint, "not_found" if status == 404 else "server_error") >= 1


@PROPERTY
@given(
    parse=st.sampled_from([parse_model, parse_version, parse_run, parse_experiment]),
    document=st.dictionaries(st.sampled_from(KNOWN_KEYS), json_values, max_size=6),
)
def test_every_parser_returns_its_type_or_raises_malformed(
    parse: Callable[[Obj], object], document: Any
) -> None:
    try:
        parsed = parse(Obj(document, "item"))
    except Malformed as exc:
        assert str(exc).startswith("item")  # names where in the answer
    else:
        assert type(parsed).__name__ in ("RegisteredModel", "ModelVersion", "Run", "Experiment")

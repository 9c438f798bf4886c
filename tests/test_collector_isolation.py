"""Rendering is isolated per collector, and upstream text is made safe once for every collector."""

from __future__ import annotations

import logging
from collections.abc import Callable

import pytest

from exporter.catalogue.families import FamilySet
from exporter.catalogue.spec import MetricSpec
from exporter.collector import Collector, Health, IsolatingCollector
from exporter.textsafe import LABEL_LIMIT, TRUNCATION_MARKER
from tests.fixtures_isolation import BUILD_LABELS as BUILD
from tests.fixtures_isolation import gpu_series
from tests.helpers import samples, value

MESSAGE = MetricSpec("hostile_message_info", "gauge", "An upstream's text as a label.", ("message",))


class Unprintable:
    """A label value that cannot even be turned into text: stands for any bug met while rendering."""

    def __str__(self) -> str:
        raise RuntimeError("cannot render me")


class Emitting:
    """A collector that adds whatever label value it is given."""

    def __init__(self, name: str, label: Callable[[], object]) -> None:
        self.name = name
        self.label = label

    def collect(self, out: FamilySet) -> bool:
        out.add(MESSAGE, 1, message=self.label())  # type: ignore[arg-type]
        return True

    def health(self) -> Health:
        return Health(True)

    def close(self) -> None:
        pass


def _render(root: IsolatingCollector) -> str:
    return root.render().decode("utf-8")


def _messages(text: str) -> list[str]:
    return [dict(labels)["message"] for (name, labels) in samples(text) if name == "hostile_message_info"]


def test_a_lone_surrogate_is_served_escaped_and_counted(fake_gpu: Collector) -> None:
    hostile = Emitting("tfserving", lambda: "load failed: \ud800 at \x1b[2J")
    root = IsolatingCollector([fake_gpu, hostile], BUILD)
    text = _render(root)
    assert value(text, "hostile_message_info") == 1
    (message,) = [
        dict(labels)["message"] for (name, labels) in samples(text) if name == "hostile_message_info"
    ]
    assert message == "load failed: \\ud800 at \\x1b[2J"
    assert value(text, "mlobs_collector_success", collector="tfserving") == 1
    assert value(text, "mlobs_label_values_sanitized_total", collector="tfserving") == 1
    assert value(text, "mlobs_label_values_sanitized_total", collector="gpu") == 0
    assert len(gpu_series(samples(text))) > 20
    # A counter: every scrape that serves the value counts it again.
    assert value(_render(root), "mlobs_label_values_sanitized_total", collector="tfserving") == 2


def test_a_long_value_is_cut_with_a_visible_marker() -> None:
    text = _render(IsolatingCollector([Emitting("tfserving", lambda: "x" * 100_000)], BUILD))
    (message,) = [
        dict(labels)["message"] for (name, labels) in samples(text) if name == "hostile_message_info"
    ]
    assert message == "x" * LABEL_LIMIT + TRUNCATION_MARKER
    assert value(text, "mlobs_label_values_sanitized_total", collector="tfserving") == 1


def test_a_collector_that_fails_to_render_fails_alone(
    fake_gpu: Collector, caplog: pytest.LogCaptureFixture
) -> None:
    healthy = _render(IsolatingCollector([fake_gpu, Emitting("tfserving", lambda: "fine")], BUILD))
    with caplog.at_level(logging.WARNING, logger="exporter.collectors"):
        text = _render(IsolatingCollector([fake_gpu, Emitting("tfserving", Unprintable)], BUILD))
    assert value(text, "mlobs_collector_success", collector="tfserving") == 0
    assert value(text, "hostile_message_info") is None
    assert value(text, "mlobs_collector_success", collector="gpu") == 1
    assert gpu_series(samples(text)) == gpu_series(samples(healthy))
    (record,) = [r for r in caplog.records if r.name == "exporter.collectors"]
    assert record.getMessage() == "collector tfserving failed to render: cannot render me"


def test_the_health_report_names_a_render_failure() -> None:
    root = IsolatingCollector([Emitting("tfserving", Unprintable)], BUILD)
    root.render()
    report = root.health()["tfserving"]
    assert report["last_scrape_success"] is False
    assert report["last_error"] == "RuntimeError: cannot render me"


def test_a_failing_and_a_hostile_collector_in_one_scrape_are_each_isolated_and_made_safe() -> None:
    root = IsolatingCollector([Emitting("bad", Unprintable), Emitting("odd", lambda: "\ud800\n")], BUILD)
    text = _render(root)
    assert value(text, "mlobs_collector_success", collector="bad") == 0
    assert value(text, "mlobs_collector_success", collector="odd") == 1
    assert value(text, "hostile_message_info", message="\\ud800\\x0a") == 1
    assert value(text, "mlobs_label_values_sanitized_total", collector="odd") == 1

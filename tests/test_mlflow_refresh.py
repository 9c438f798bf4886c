"""Scrape-driven refresh scheduling and the pure parts of turning MLflow data into samples (no server)."""

from __future__ import annotations

import threading

import pytest

from exporter.mlflow.refresh import BackgroundRefresh
from exporter.mlflow.rows import MonitoringKeys, label_value


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


class Work:
    """Counts calls; blocks each call until released when `hold` is set."""

    def __init__(self, hold: bool = False, fail: bool = False) -> None:
        self.calls = 0
        self.hold = hold
        self.fail = fail
        self.release = threading.Event()
        self.entered = threading.Event()

    def __call__(self) -> None:
        self.calls += 1
        self.entered.set()
        if self.hold:
            self.release.wait(10)
        if self.fail:
            raise RuntimeError("boom")


def test_at_most_one_refresh_per_interval() -> None:
    clock, work = FakeClock(), Work()
    refresh = BackgroundRefresh(work, interval=60, wait=5, clock=clock)
    assert refresh.trigger() is True
    assert refresh.trigger() is False
    clock.now += 59
    assert refresh.trigger() is False
    clock.now += 1
    assert refresh.trigger() is True
    assert work.calls == 2


def test_at_most_one_refresh_in_flight_and_the_scrape_waits_only_up_to_the_bound() -> None:
    clock, work = FakeClock(), Work(hold=True)
    refresh = BackgroundRefresh(work, interval=1, wait=0.05, clock=clock)
    assert refresh.trigger() is True  # returns after the bound although the work still runs
    assert work.entered.is_set() and not refresh.wait_idle(0)
    clock.now += 100
    assert refresh.trigger() is False
    assert refresh.in_flight_for() == 100
    work.release.set()
    assert refresh.wait_idle(5)
    assert refresh.in_flight_for() == 0 and work.calls == 1


def test_a_failing_refresh_does_not_stop_later_ones() -> None:
    clock, work = FakeClock(), Work(fail=True)
    refresh = BackgroundRefresh(work, interval=1, wait=5, clock=clock)
    refresh.trigger()
    clock.now += 1
    assert refresh.trigger() is True
    assert work.calls == 2


def test_no_refresh_starts_after_close() -> None:
    work = Work()
    refresh = BackgroundRefresh(work, interval=1, wait=5, clock=FakeClock())
    refresh.close()
    assert refresh.trigger() is False and work.calls == 0


@pytest.mark.parametrize(
    ("raw", "expected_prefix"),
    [("fraud\ndetector", "fraud_detector~"), ("tab\there", "tab_here~"), ("x" * 200, "x" * 119 + "~")],
)
def test_label_values_lose_control_characters_and_length_but_stay_distinct(
    raw: str, expected_prefix: str
) -> None:
    cleaned = label_value(raw)
    assert cleaned.startswith(expected_prefix) and len(cleaned) <= 128
    assert cleaned != label_value(raw + "y")
    assert label_value("fraud-detector") == "fraud-detector"
    assert label_value("modèle ünïcode") == "modèle ünïcode"


def test_drift_keys_split_into_metric_and_feature_with_the_longest_configured_name() -> None:
    keys = MonitoringKeys("m", "v", ("p", "p_value", "psi"), ("accuracy",), 10, 128)
    assert keys.classify("psi") == ("drift", "psi", "")
    assert keys.classify("psi.age") == ("drift", "psi", "age")
    assert keys.classify("p_value.credit.limit") == ("drift", "p_value", "credit.limit")
    assert keys.classify("accuracy") == ("quality", "accuracy", "")
    assert keys.classify("accuracy.by_segment") is None
    assert keys.classify("psi.") is None
    assert keys.classify("latency_ms") is None

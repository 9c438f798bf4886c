"""Our conventions lint catches what it claims to, and metric names resolve only through the catalogue."""

from __future__ import annotations

from dataclasses import replace

import pytest

from alerts.lint import lint, lint_alert
from alerts.model import Alert, Group, Record
from bundle.promql import Metrics, Re, UnknownMetricError, spec

GOOD = Alert(
    "MLObsGpuExample",
    "up == 0",
    "warning",
    "Something is down.",
    "Target {{ $labels.instance }} is down.",
    for_="5m",
    annotations={"runbook_url": "https://r/x", "dashboard_url": "https://d/x"},
)


def group(*rules: Alert | Record, name: str = "mlobs-test") -> Group:
    return Group(name, rules, dashboard_uid="ml-overview")


def test_a_conventional_alert_is_clean() -> None:
    assert lint([group(GOOD)], "MLObs") == []


@pytest.mark.parametrize(
    ("change", "problem"),
    [
        ({"name": "mlobs_gpu_example"}, "CamelCase"),
        ({"name": "MLObsGpu" + "X" * 40}, "at most 40"),
        ({"name": "GpuExample"}, "starting MLObs"),
        ({"severity": "page"}, "severity 'page'"),
        ({"summary": "GPU {{ $labels.gpu }} is down."}, "static sentence"),
        ({"summary": "Something is down"}, "final period"),
        ({"summary": "something is down."}, "capital letter"),
        ({"description": "Something is down."}, "must be templated"),
        ({"labels": {"value": "{{ $value }}"}}, "must not be templated"),
        ({"labels": {"severity": "critical"}}, "in its field"),
        ({"annotations": {"dashboard_url": "https://d/x"}}, "runbook_url missing"),
        ({"for_": "5 minutes"}, "not a duration"),
    ],
)
def test_lint_flags_a_broken_convention(change: dict[str, object], problem: str) -> None:
    problems = lint_alert(replace(GOOD, **change), "MLObs")  # type: ignore[arg-type]
    assert any(problem in p for p in problems), problems


def test_lint_flags_group_limits() -> None:
    assert any("1 to 20 rules" in p for p in lint([group(*[GOOD] * 21)], "MLObs"))
    assert any("longer than 40" in p for p in lint([group(GOOD, name="g" * 41)], "MLObs"))
    assert any("used twice" in p for p in lint([group(GOOD), group(GOOD)], "MLObs"))


def test_lint_flags_a_badly_named_recording_rule() -> None:
    assert any(
        "level:metric:operations" in p for p in lint([group(Record("busy_ratio", "vector(1)"))], "MLObs")
    )
    assert lint([group(Record("gpu:nvidia_gpu_busy:ratio_rate5m", "vector(1)"))], "MLObs") == []


def test_selector_names_metric_job_and_matchers() -> None:
    m = Metrics("job", "mlobs-exporter", frozenset({"job", "node"}))
    assert m("nvidia_gpu_xid_errors_total", xid=Re.any_of([79, 48]), node="n1") == (
        'nvidia_gpu_xid_errors_total{job="mlobs-exporter", xid=~"79|48", node="n1"}'
    )


def test_unknown_metric_breaks_the_build() -> None:
    m = Metrics("job", "mlobs-exporter", frozenset({"job"}))
    with pytest.raises(
        UnknownMetricError, match="nvidia_gpu_utilisation_ratio: not in the exporter's metric"
    ):
        m("nvidia_gpu_utilisation_ratio")
    with pytest.raises(UnknownMetricError, match="has no label 'model'"):
        m("nvidia_gpu_up", model="a100")
    assert spec("nvidia_gpu_up").labels == ("gpu", "uuid")

"""Issue 10's live proof: every panel query of every generated dashboard returns data from a real Prometheus
scraping the real exporters on the local stack, with the dashboard's variables set to All and to one value.

Panels that are empty in a healthy system are listed in NEEDS_FAULT with the fault that fills them; the
stack runs healthy first, then every fault is injected, and each panel is judged over its own phase.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

import pytest

import dashboards
from bundle.checks import duration_seconds
from demo.processes import wait_until
from demo.prometheus import PromQLError, Series
from demo.stack import Stack
from tests.dashboard_queries import (
    Intervals,
    PanelQuery,
    all_values,
    concrete_values,
    queries,
    substitute,
    variables,
)

pytestmark = pytest.mark.slow

STEP = 2.0
# Grafana's $__rate_interval is max($__interval + scrape interval, 4 x scrape interval); with the stack's 1 s
# scrapes that is 4 s. 10 s leaves room for scrapes delayed on a busy machine.
RATE_INTERVAL = "10s"
HEALTHY_SECONDS = 25.0  # of data before the faults: more than the rate interval, several rule evaluations

# Panels empty while everything is healthy (panel title) -> the fault that fills them.
NEEDS_FAULT = {
    # increase() > 0: a first XID creates its series at 1, which increase() counts as 0, so one XID alone
    # never shows here; the fault repeats it.
    "XID errors": "xid",
    "Clock throttle reasons": "throttle",
    "Time since each XID": "xid",
    "Load failures": "load_failure",
}
# Every fault the stack can inject, in the order they are injected; only those NEEDS_FAULT names are.
FAULTS: dict[str, Callable[[Stack], object]] = {
    "xid": lambda stack: stack.inject_xid(gpu=7, xid=79, repeat=3),
    "throttle": lambda stack: stack.inject_throttle(gpu=6, reason="hw_thermal"),
    "latency": lambda stack: stack.latency_spike("ranking"),
    "load_failure": lambda stack: stack.fail_model_load("ranking"),
    "drift": lambda stack: stack.log_drift("fraud-detector"),
    # Last: the cluster exporter keeps serving MLflow's last snapshot, with the drift logged above.
    "mlflow_down": lambda stack: stack.stop_mlflow(),
}


@dataclass
class Phase:
    start: float
    end: float

    def intervals(self) -> Intervals:
        return Intervals(f"{STEP:g}s", RATE_INTERVAL, int(self.end - self.start))


@dataclass
class Live:
    stack: Stack
    boards: list[dict[str, Any]]
    healthy: Phase
    faulty: Phase

    def run(self, board: dict[str, Any], query: PanelQuery, phase: Phase, concrete: bool) -> list[Series]:
        """The panel query over the phase, as Grafana's range query, variables All or one value each."""
        board_variables = variables(board)
        intervals = phase.intervals()

        def series(values: Mapping[str, str]) -> list[Series]:
            expr = substitute(query.expr, values, intervals)
            return self.stack.prom.query_range(expr, phase.start, phase.end, STEP)

        if not concrete:
            return series(all_values(board_variables))
        label_values = self.label_values(phase.end)
        return series(concrete_values(board_variables, label_values, intervals, lambda v: bool(series(v))))

    def label_values(self, at: float) -> Callable[[str | None, str], list[str]]:
        def values(selector: str | None, label: str) -> list[str]:
            where = selector or f'{{{label}=~".+"}}'
            found = self.stack.prom.query(f"group by ({label}) ({where})", at)
            return sorted({m[label] for m, _ in found if label in m})

        return values


def problem(series: list[Series]) -> str | None:
    """What is wrong with a panel's result: nothing shown, or values that are not numbers."""
    if not series:
        return "empty"
    bad = [(m, v) for m, points in series for _, v in points if math.isnan(v) or math.isinf(v)]
    if bad:
        return f"{len(bad)} non-finite values, e.g. {bad[0][1]} in {bad[0][0]}"
    return None


def held(stack: Stack, seconds: float) -> bool:
    """Whether Prometheus holds `seconds` of scrapes of every target (one a second, a few may be late)."""
    found = stack.prom.query(f"min(count_over_time(up[{seconds:g}s]))")
    return bool(found) and found[0][1] >= seconds - 2


def panel_queries(boards: list[dict[str, Any]]) -> Iterator[tuple[dict[str, Any], PanelQuery]]:
    for board in boards:
        for query in queries(board):
            yield board, query


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Live]:
    with Stack(folder=tmp_path_factory.mktemp("stack")) as stack:
        stack.wait_scraped()
        boards = dashboards.build(stack.cfg)
        # A rate interval of data first: points computed from fewer samples are start-up, not the dashboard.
        warm_up = duration_seconds(RATE_INTERVAL)
        wait_until(lambda: held(stack, warm_up), 3 * warm_up, f"{warm_up:g} s of scrapes")
        start = time.time()
        total = warm_up + HEALTHY_SECONDS
        wait_until(lambda: held(stack, total), 3 * total, f"{total:g} s of scrapes")
        healthy = Phase(start, time.time())
        for name, fault in FAULTS.items():
            if name in NEEDS_FAULT.values():
                fault(stack)
        live = Live(stack, boards, healthy, Phase(healthy.end, healthy.end))

        def faults_shown() -> bool:
            live.faulty.end = time.time()
            return all(
                live.run(board, query, live.faulty, concrete=False)
                for board, query in panel_queries(boards)
                if query.panel in NEEDS_FAULT
            )

        wait_until(faults_shown, 90, f"the faults to show in {', '.join(NEEDS_FAULT)}")
        yield live


def judge(live: Live, phase_of: Callable[[PanelQuery], Phase], concrete: bool) -> list[str]:
    failures = []
    for board, query in panel_queries(live.boards):
        try:
            found = problem(live.run(board, query, phase_of(query), concrete))
        except (PromQLError, LookupError, ValueError) as exc:
            found = str(exc)
        if found:
            fault = NEEDS_FAULT.get(query.panel)
            where = f" (under fault {fault!r})" if fault else " (healthy; not in NEEDS_FAULT)"
            failures.append(f"{query}{where}: {found}\n    {query.expr}")
    return failures


def phase_of(live: Live) -> Callable[[PanelQuery], Phase]:
    return lambda query: live.faulty if query.panel in NEEDS_FAULT else live.healthy


def test_every_panel_shows_finite_data_with_every_variable_set_to_all(live: Live) -> None:
    failures = judge(live, phase_of(live), concrete=False)
    assert not failures, "\n".join(failures)


def test_every_panel_shows_finite_data_for_one_value_of_each_variable(live: Live) -> None:
    failures = judge(live, phase_of(live), concrete=True)
    assert not failures, "\n".join(failures)


def test_panels_listed_as_needing_a_fault_are_empty_while_healthy(live: Live) -> None:
    shown = [
        str(query)
        for board, query in panel_queries(live.boards)
        if query.panel in NEEDS_FAULT and live.run(board, query, live.healthy, concrete=False)
    ]
    assert not shown, f"not empty while healthy: take them off NEEDS_FAULT: {shown}"


def test_the_needs_fault_list_names_panels_and_faults_that_exist(live: Live) -> None:
    titles = {query.panel for _, query in panel_queries(live.boards)}
    assert set(NEEDS_FAULT) <= titles, f"no such panel: {sorted(set(NEEDS_FAULT) - titles)}"
    assert set(NEEDS_FAULT.values()) <= set(FAULTS)

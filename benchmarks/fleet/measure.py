"""What the bundle costs on a fleet: each rule group's evaluation time on both engines, their memory, and each
dashboard panel's query time over the dashboard's range and over 7 days."""

from __future__ import annotations

import re
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from benchmarks.fleet.engines import Engine
from bundle.schema import BundleConfig, duration_seconds
from dashboards.queries import all_values, panel_queries, substitute, variables

# label_values(SELECTOR, LABEL) of a query variable.
_LABEL_VALUES = re.compile(r"^label_values\((.+),\s*(\w+)\)$")

# Grafana asks for about this many points per series (a panel's width in pixels).
POINTS = 1000
RANGE_7D = 7 * 86400


def rule_group_seconds(engine: Engine) -> dict[str, float]:
    """Each rule group's last evaluation time (Prometheus), or the slowest vmalert remembers (its summary's
    maximum over the last minutes: the first, cold iterations after its start included)."""
    out: dict[str, float] = {}
    for name, labels, value in engine.own_metrics():
        if name == "prometheus_rule_group_last_duration_seconds":
            out[labels["rule_group"].rsplit(";", 1)[-1]] = value
        elif name == "vmalert_iteration_duration_seconds" and labels.get("quantile") == "1":
            out[labels["group"]] = value
    return out


def slowest_rule_groups(engine: Engine, evaluations: int, interval: float) -> dict[str, float]:
    """The slowest of `evaluations` consecutive evaluations of each group."""
    slowest: dict[str, float] = {}
    for _ in range(evaluations):
        for group, seconds in rule_group_seconds(engine).items():
            slowest[group] = max(seconds, slowest.get(group, 0.0))
        time.sleep(interval)
    return slowest


def _vmalert_totals(engine: Engine) -> dict[str, tuple[float, float]]:
    """vmalert's iterations so far and the seconds they took, per group."""
    counts: dict[str, float] = {}
    sums: dict[str, float] = {}
    for name, labels, value in engine.own_metrics():
        if name == "vmalert_iteration_duration_seconds_count":
            counts[labels["group"]] = value
        elif name == "vmalert_iteration_duration_seconds_sum":
            sums[labels["group"]] = value
    return {group: (count, sums.get(group, 0.0)) for group, count in counts.items()}


def slowest_vmalert_iterations(
    engine: Engine, iterations: int, interval: float, poll: float = 0.25
) -> dict[str, float]:
    """The slowest of each group's next `iterations` iterations on vmalert, as Prometheus is measured: each
    timed by the growth of vmalert's iteration-duration sum over one more iteration (a poll that saw several
    counts their mean). Stops after `iterations` + 2 intervals; a group that did not finish one by then is
    left out."""
    before = _vmalert_totals(engine)
    seen: dict[str, list[float]] = {group: [] for group in before}
    deadline = time.monotonic() + (iterations + 2) * interval
    while time.monotonic() < deadline and any(len(times) < iterations for times in seen.values()):
        time.sleep(poll)
        now = _vmalert_totals(engine)
        for group, (count, total) in now.items():
            last_count, last_total = before.get(group, (0.0, 0.0))
            if count > last_count and len(seen.setdefault(group, [])) < iterations:
                seen[group].append((total - last_total) / (count - last_count))
        before = now
    return {group: max(times) for group, times in seen.items() if times}


def rule_seconds(engine: Engine) -> dict[tuple[str, str], float]:
    """Each rule's last evaluation time by (group, rule name), from /api/v1/rules (`evaluationTime`, which
    Prometheus reports; empty where the engine does not)."""
    out: dict[tuple[str, str], float] = {}
    for group in engine.rules():
        for rule in group.get("rules", []):
            if "evaluationTime" in rule:
                out[(str(group["name"]), str(rule["name"]))] = float(rule["evaluationTime"])
    return out


def peak_resident_mib(engine: Engine) -> float:
    """The engine process's peak resident memory (VmHWM), blocks loading and queries included."""
    with open(f"/proc/{engine.process.pid}/status") as status:
        for line in status:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def step_for(range_seconds: int) -> int:
    """Grafana's step for a range: range / points, at least 15 s, rounded up to whole 15 s."""
    return max(15, -(-range_seconds // POINTS // 15) * 15)


def rate_interval(step: int, scrape_interval: int) -> str:
    """Grafana's $__rate_interval: max(4 scrape intervals, step + 1 scrape interval)."""
    return f"{max(4 * scrape_interval, step + scrape_interval)}s"


@dataclass(frozen=True)
class PanelQuery:
    dashboard: str
    title: str
    expr: str


@dataclass(frozen=True)
class QueryTime:
    query: PanelQuery
    range_seconds: int
    seconds: float
    series: int
    error: str = ""


def time_queries(
    engine: Engine,
    boards: list[dict[str, Any]],
    values: Mapping[str, str],
    range_seconds: int,
    scrape_interval: int,
    budget: float = float("inf"),
) -> list[QueryTime]:
    """Each panel query as Grafana sends it over `range_seconds` ending now, timed one after the other; once
    the pass has taken `budget` seconds the rest are left out (at 1,000 nodes a full pass takes many
    minutes)."""
    step = step_for(range_seconds)
    interval = rate_interval(step, scrape_interval)
    out: list[QueryTime] = []
    for board in boards:
        opening = opening_values(engine, board, values)
        labels = {
            f"variable {v['name']}": found.group(2)
            for v in variables(board)
            if (found := _LABEL_VALUES.match(v.get("query") or ""))
        }
        for title, expr in panel_queries(board):
            if sum(t.seconds for t in out) >= budget:
                return out
            query = PanelQuery(str(board["uid"]), title, expr)
            text = substitute(expr, opening, rate_interval=interval)
            end = time.time()
            start = time.perf_counter()
            try:
                if title in labels:  # a variable: Grafana asks the label values API, not a range query
                    series = engine.label_values(text, labels[title], end - range_seconds, end)
                else:
                    series = engine.query_range(text, end - range_seconds, end, step)
                error = ""
            except RuntimeError as exc:
                series, error = 0, str(exc).splitlines()[0]
            out.append(QueryTime(query, range_seconds, time.perf_counter() - start, series, error))
    return out


def opening_values(
    engine: Engine, board: Mapping[str, Any], values: Mapping[str, str]
) -> dict[str, str | Sequence[str]]:
    """Each variable as Grafana opens the dashboard: All, or, for a variable without an All option, its first
    value (label_values() sorted, as the engine answers it)."""
    out: dict[str, str | Sequence[str]] = {**all_values(board), **values}
    for variable in variables(board):
        found = _LABEL_VALUES.match(variable.get("query") or "")
        if variable.get("type") != "query" or variable.get("includeAll") or not found:
            continue
        selector, label = found.groups()
        answer = engine.query(f"group by ({label}) ({substitute(selector, out)})", time.time())
        first = sorted(labels.get(label, "") for labels, _ in answer)
        if first:
            out[variable["name"]] = [first[0]]
    return out


def dashboard_range(cfg: BundleConfig) -> int:
    """Seconds of the dashboards' default time range (dashboards.time_from, `now-6h`)."""
    return int(duration_seconds(cfg.dashboards.time_from.removeprefix("now-")))

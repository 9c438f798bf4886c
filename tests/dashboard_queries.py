"""Every panel query of a dashboard, and Grafana's substitutions to run it against a real Prometheus.

A stopgap over Grafana's JSON model until `dashboards` offers its own list of panel queries: targets'
`expr`, query variables (`label_values(selector, label)`, `label_values(label)`), `$var` and `${var}`, and
the interval variables Grafana fills in itself.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from dashboards.lint import panels

ALL = ".+"
# Characters Grafana escapes in a variable's value inside a regex matcher, itself inside a PromQL string.
_REGEX_SPECIAL = re.compile(r"([\\^$.|?*+()\[\]{}])")
_VARIABLE = re.compile(r"\$\{(\w+)(?::\w+)?\}|\$(\w+)")
_LABEL_VALUES = re.compile(r"^\s*label_values\(\s*(?:(.+),\s*)?(\w+)\s*\)\s*$", re.S)


@dataclass(frozen=True)
class PanelQuery:
    dashboard: str  # uid
    panel: str  # title
    ref: str  # refId
    expr: str  # as written, variables unsubstituted

    def __str__(self) -> str:
        return f"{self.dashboard} / {self.panel} / {self.ref}"


@dataclass(frozen=True)
class Variable:
    name: str
    kind: str  # Grafana's variable type: query, custom, constant, datasource, interval, textbox
    query: str


@dataclass(frozen=True)
class Intervals:
    """What Grafana fills its own variables with: durations, and the range in seconds."""

    interval: str
    rate_interval: str
    range_seconds: int

    def values(self) -> dict[str, str]:
        return {
            "__interval": self.interval,
            "__rate_interval": self.rate_interval,
            "__range": f"{self.range_seconds}s",
            "__range_s": str(self.range_seconds),
        }


def queries(board: Mapping[str, Any]) -> list[PanelQuery]:
    """Every target of every panel (rows' nested panels too) that has a PromQL expression."""
    uid = str(board.get("uid", ""))
    return [
        PanelQuery(uid, str(panel.get("title", "")), str(target.get("refId", "")), target["expr"])
        for panel in panels(dict(board))
        for target in panel.get("targets") or []
        if target.get("expr")
    ]


def variables(board: Mapping[str, Any]) -> list[Variable]:
    found = []
    for item in board.get("templating", {}).get("list", []):
        query = item.get("query", "")
        if isinstance(query, Mapping):  # newer Grafana writes {"query": ..., "refId": ...}
            query = query.get("query", "")
        found.append(Variable(item["name"], item.get("type", "query"), str(query or "")))
    return found


def escape(value: str) -> str:
    """A concrete value as Grafana writes it into a regex matcher (`=~"$var"`)."""
    return _REGEX_SPECIAL.sub(r"\\\\\1", value)


def substitute(expr: str, values: Mapping[str, str], intervals: Intervals) -> str:
    """`expr` with each `$var`/`${var}` replaced; a variable neither given nor Grafana's own is an error."""
    own = intervals.values()

    def replace(match: re.Match[str]) -> str:
        name = match.group(1) or match.group(2)
        if name in own:
            return own[name]
        if name not in values:
            raise KeyError(f"unknown variable ${name} in {expr!r}")
        return values[name]

    return _VARIABLE.sub(replace, expr)


def label_values_query(query: str) -> tuple[str | None, str]:
    """(selector or None, label) of a `label_values(...)` variable query; other queries are an error."""
    match = _LABEL_VALUES.match(query)
    if match is None:
        raise ValueError(f"unsupported variable query {query!r}: only label_values(...) is understood")
    return match.group(1), match.group(2)


# (selector or None, label) -> the label's values, as Prometheus answers them now.
LabelValues = Callable[[str | None, str], list[str]]


def concrete_values(
    board_variables: Sequence[Variable],
    label_values: LabelValues,
    intervals: Intervals,
    shows: Callable[[Mapping[str, str]], bool] = lambda values: True,
) -> dict[str, str]:
    """One value per variable, in order, each from the variable's own query (which may use the values chosen
    before it): the first, in sorted order, with which the panel still `shows` data (the variables after it
    at All), else the first. A variable that offers no value at all is an error."""
    values = all_values(board_variables)
    for variable in board_variables:
        if variable.kind == "datasource":
            continue
        if variable.kind == "query":
            selector, label = label_values_query(substitute(variable.query, values, intervals))
            options = [escape(v) for v in sorted(label_values(selector, label))]
        else:  # custom, constant, interval, textbox: comma-separated options
            options = [v.strip() for v in variable.query.split(",") if v.strip()]
        if not options:
            raise LookupError(f"variable ${variable.name} has no values (query {variable.query!r})")
        trials = ({**values, variable.name: option} for option in options)
        values = next((trial for trial in trials if shows(trial)), {**values, variable.name: options[0]})
    return values


def all_values(board_variables: Sequence[Variable]) -> dict[str, str]:
    """Every variable set to All, as Grafana sends it with `allValue: ".+"`."""
    return {v.name: ALL for v in board_variables if v.kind != "datasource"}

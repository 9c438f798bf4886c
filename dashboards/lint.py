"""Our lint of the dashboard conventions (grafana/dashboard-linter's rules), on Grafana's JSON model."""

from __future__ import annotations

import itertools
import re
from collections.abc import Container, Sequence
from typing import Any

from dashboards.queries import (
    BUILTINS,
    all_values,
    metric_names,
    panel_queries,
    panels,
    promtool_parse,
    substitute,
    used_variables,
)

MIN_SCHEMA_VERSION = 36
DATASOURCE_UID = "${datasource}"
RANGE_FUNCTIONS = ("rate", "irate", "increase")
ALL_VALUES = (".+", ".*")
_RANGE = re.compile(r"\b(\w+)\s*\([^()]*\[([^\]]+)\]")
_COUNTER = re.compile(r"\b([a-zA-Z_:][a-zA-Z0-9_:]*_total)\b")


def _uses_variable(datasource: Any) -> bool:
    """A panel, target or variable datasource that is the `datasource` variable (object or legacy string)."""
    if isinstance(datasource, dict):
        datasource = datasource.get("uid")
    return datasource in (DATASOURCE_UID, "$datasource")


def _enclosing_functions(expr: str, position: int) -> list[str]:
    """Names of the function calls whose parentheses enclose `position`."""
    stack: list[str] = []
    for match in re.finditer(r"(\w*)\s*\(|\)", expr[:position]):
        if match.group(0) == ")":
            if stack:
                stack.pop()
        else:
            stack.append(match.group(1))
    return stack


def lint_expr(expr: str) -> list[str]:
    problems = []
    for function, window in _RANGE.findall(expr):
        if function in RANGE_FUNCTIONS and window not in ("$__rate_interval", "${__rate_interval}"):
            problems.append(f"{function}() over [{window}] must use $__rate_interval")
    for match in _COUNTER.finditer(expr):
        if not set(_enclosing_functions(expr, match.start())) & set(RANGE_FUNCTIONS):
            problems.append(f"counter {match.group(1)} used outside rate()/increase()")
    return problems


def lint_variables(data: dict[str, Any]) -> list[str]:
    variables = data.get("templating", {}).get("list", [])
    problems = []
    source = [v for v in variables if v.get("type") == "datasource"]
    if [(v.get("name"), v.get("label")) for v in source] != [("datasource", "Data source")]:
        problems.append("needs one datasource variable named 'datasource' labelled 'Data source'")
    for variable in variables:
        if variable.get("type") != "query":
            continue
        name = variable.get("name")
        if variable.get("refresh") != 2:
            problems.append(f"variable {name}: must refresh on time-range change (refresh: 2)")
        if variable.get("multi") and variable.get("allValue") not in ALL_VALUES:
            problems.append(
                f"variable {name}: multi-value variables need allValue '.+' "
                "('.*' for labels that may be absent)"
            )
        if not _uses_variable(variable.get("datasource")):
            problems.append(f"variable {name}: datasource must be {DATASOURCE_UID}")
    return problems


def lint_panel(panel: dict[str, Any]) -> list[str]:
    where = f"panel {panel.get('title') or panel.get('id')!r}"
    if panel.get("type") == "row":
        return (
            [f"{where}: expanded rows must not nest panels"]
            if panel.get("panels") and not panel.get("collapsed")
            else []
        )
    problems = []
    for key in ("title", "description"):
        if not panel.get(key):
            problems.append(f"{where}: {key} missing")
    if not (panel.get("fieldConfig", {}).get("defaults", {}).get("unit")):
        problems.append(f"{where}: unit missing")
    if not _uses_variable(panel.get("datasource")):
        problems.append(f"{where}: datasource must be {DATASOURCE_UID}")
    if not panel.get("gridPos"):
        problems.append(f"{where}: gridPos missing")
    targets = panel.get("targets") or []
    if not targets:
        problems.append(f"{where}: no targets")
    for target in targets:
        if not _uses_variable(target.get("datasource")):
            problems.append(f"{where}: target {target.get('refId')} datasource must be {DATASOURCE_UID}")
        problems.extend(f"{where}: {p}" for p in lint_expr(target.get("expr", "")))
    return problems


def lint_layout(data: dict[str, Any]) -> list[str]:
    """Panels must not overlap on Grafana's 24-column grid."""
    problems = []
    taken: dict[tuple[int, int], str] = {}
    for panel in panels(data):
        pos = panel.get("gridPos") or {}
        x, y, w, h = (int(pos.get(k, 0)) for k in ("x", "y", "w", "h"))
        title = str(panel.get("title") or panel.get("id"))
        if x + w > 24:
            problems.append(f"panel {title!r}: gridPos runs past the 24 columns")
        for cell in itertools.product(range(x, x + w), range(y, y + h)):
            if cell in taken:
                problems.append(f"panel {title!r}: gridPos overlaps panel {taken[cell]!r}")
                break
            taken[cell] = title
    return problems


def lint_names(data: dict[str, Any], known: Container[str] | None) -> list[str]:
    """Every variable a query uses is defined; every series it names is known (when `known` is given)."""
    defined = {v.get("name") for v in data.get("templating", {}).get("list", [])} | set(BUILTINS)
    problems = []
    for title, expr in panel_queries(data):
        for name in sorted(used_variables(expr) - defined):
            problems.append(f"panel {title!r}: variable ${name} is not defined")
        if known is not None:
            for name in sorted(metric_names(expr)):
                if name not in known:
                    problems.append(f"panel {title!r}: {name} is neither exported nor recorded")
    return problems


def lint(data: dict[str, Any], known: Container[str] | None = None) -> list[str]:
    """Every convention the dashboard breaks; empty when it is clean. `known`: the series queries may name
    (`dashboards.queries.KnownSeries`); None skips that check."""
    problems = []
    if data.get("editable") is not False:
        problems.append("editable must be false")
    if not data.get("uid"):
        problems.append("uid missing")
    if int(data.get("schemaVersion") or 0) < MIN_SCHEMA_VERSION:
        problems.append(f"schemaVersion must be at least {MIN_SCHEMA_VERSION}")
    problems.extend(lint_variables(data))
    ids = [p.get("id") for p in panels(data)]
    if None in ids or len(set(ids)) != len(ids):
        problems.append("panel ids must be set and unique")
    for panel in panels(data):
        problems.extend(lint_panel(panel))
    problems.extend(lint_layout(data))
    problems.extend(lint_names(data, known))
    return problems


def promql(data: dict[str, Any]) -> list[str]:
    """Every query (targets, then variables' selectors) with each variable set to All, ready for the real
    PromQL parser."""
    values = all_values(data)
    return [substitute(expr, values) for _, expr in panel_queries(data)]


def lint_all(
    boards: Sequence[dict[str, Any]], known: Container[str] | None = None, promtool: str | None = None
) -> list[str]:
    """`lint` of every dashboard, and with `promtool` (its path) every query, each variable at All, through
    Prometheus' parser in one call."""
    problems = [f"dashboard {b.get('uid')}: {p}" for b in boards for p in lint(b, known)]
    if promtool:
        where = [(b.get("uid"), title) for b in boards for title, _ in panel_queries(b)]
        exprs = [e for b in boards for e in promql(b)]
        for index, message in sorted(promtool_parse(exprs, promtool).items()):
            uid, title = where[index] if index >= 0 else ("?", "?")
            problems.append(f"dashboard {uid}: panel {title!r}: {message}")
    return problems

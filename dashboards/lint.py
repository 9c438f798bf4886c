"""Our lint of the dashboard conventions (grafana/dashboard-linter's rules), on Grafana's JSON model."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

MIN_SCHEMA_VERSION = 36
DATASOURCE_UID = "${datasource}"
RANGE_FUNCTIONS = ("rate", "irate", "increase")
# What each Grafana variable becomes when a target is handed to the real PromQL parser.
SUBSTITUTIONS = {
    "$__rate_interval": "5m",
    "${__rate_interval}": "5m",
    "$__interval": "1m",
    "${__interval}": "1m",
    "$__range": "1h",
    "${__range}": "1h",
}
_VARIABLE = re.compile(r"\$\{(\w+)\}|\$(\w+)")
_RANGE = re.compile(r"\b(\w+)\s*\([^()]*\[([^\]]+)\]")
_LABEL_VALUES = re.compile(r"^label_values\((.+),\s*\w+\)$")
_COUNTER = re.compile(r"\b([a-zA-Z_:][a-zA-Z0-9_:]*_total)\b")


def _uses_variable(datasource: Any) -> bool:
    """A panel, target or variable datasource that is the `datasource` variable (object or legacy string)."""
    if isinstance(datasource, dict):
        datasource = datasource.get("uid")
    return datasource in (DATASOURCE_UID, "$datasource")


def panels(data: dict[str, Any]) -> Iterator[dict[str, Any]]:
    """Every panel, rows included, nested row panels too."""
    for panel in data.get("panels", []):
        yield panel
        yield from panel.get("panels", [])


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
        if variable.get("multi") and variable.get("allValue") != ".+":
            problems.append(f"variable {name}: multi-value variables need allValue '.+'")
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


def lint(data: dict[str, Any]) -> list[str]:
    """Every convention the dashboard breaks; empty when it is clean."""
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
    return problems


def promql(data: dict[str, Any]) -> list[str]:
    """Every target expression with Grafana's variables replaced, ready for the real PromQL parser."""
    names = {v["name"] for v in data.get("templating", {}).get("list", [])}

    def substitute(match: re.Match[str]) -> str:
        text = match.group(0)
        if text in SUBSTITUTIONS:
            return SUBSTITUTIONS[text]
        name = match.group(1) or match.group(2)
        if name not in names:
            raise ValueError(f"unknown dashboard variable {text}")
        return ".+"

    exprs = [target["expr"] for panel in panels(data) for target in panel.get("targets") or []]
    for variable in data.get("templating", {}).get("list", []):
        query = _LABEL_VALUES.match(variable.get("query") or "") if variable.get("type") == "query" else None
        if query:
            exprs.append(query.group(1))
    return [_VARIABLE.sub(substitute, expr) for expr in exprs]

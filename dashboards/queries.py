"""Every panel's queries with Grafana's variables, and what they become once the variables are set: the API of
the dashboard lint, of the promtool parse check and of the live proof against a real Prometheus.

    for title, expr in panel_queries(board):
        query(substitute(expr, {**all_values(board), "model": "bert"}))
"""

from __future__ import annotations

import inspect
import itertools
import re
import subprocess
import tempfile
import typing
from collections.abc import Iterator, Mapping, Sequence
from functools import cached_property
from pathlib import Path
from typing import Any

import yaml

import alerts
from alerts import records
from alerts.model import Record
from bundle.schema import BundleConfig
from exporter.catalogue import by_name

# Grafana's own variables, and what they stand for when a query runs outside Grafana.
BUILTINS = {"__rate_interval": "5m", "__interval": "1m", "__range": "1h"}
# Series Prometheus itself writes.
PROMETHEUS_SERIES = frozenset({"ALERTS", "ALERTS_FOR_STATE", "up"})
_VARIABLE = re.compile(r"\$\{(\w+)(?::\w+)?\}|\$(\w+)")
_LABEL_VALUES = re.compile(r"^label_values\((.+),\s*\w+\)$")
_KEYWORDS = frozenset(
    {"and", "or", "unless", "by", "without", "on", "ignoring", "group_left", "group_right", "bool", "offset"}
    | {"inf", "nan", "atan2"}
)
_STRING = re.compile(r'"(?:[^"\\]|\\.)*"|\'(?:[^\'\\]|\\.)*\'|`[^`]*`')
_LABEL_LIST = re.compile(r"\b(by|without|on|ignoring|group_left|group_right)\s*\([^()]*\)")
_PROMTOOL_PROBLEM = re.compile(r'"dashboard:query_(\d+):check": (.*)')
_IDENTIFIER = re.compile(r"(?<![\w.:$])([a-zA-Z_:][\w:]*)(?![\w:])(?!\s*\()")


def panels(board: Mapping[str, Any]) -> Iterator[dict[str, Any]]:
    """Every panel, rows included, nested row panels too."""
    for panel in board.get("panels", []):
        yield panel
        yield from panel.get("panels", [])


def variables(board: Mapping[str, Any]) -> list[dict[str, Any]]:
    return list(board.get("templating", {}).get("list", []))


def panel_queries(board: Mapping[str, Any]) -> list[tuple[str, str]]:
    """(panel title, PromQL with Grafana variables) of every target, then ("variable NAME", selector) of each
    query variable's label_values()."""
    out = [
        (str(panel.get("title", "")), str(target["expr"]))
        for panel in panels(board)
        for target in panel.get("targets") or []
        if target.get("expr")
    ]
    for variable in variables(board):
        found = _LABEL_VALUES.match(variable.get("query") or "") if variable.get("type") == "query" else None
        if found:
            out.append((f"variable {variable['name']}", found.group(1)))
    return out


def all_values(board: Mapping[str, Any]) -> dict[str, str]:
    """Each variable set to All (its allValue), as Grafana substitutes it; the datasource variable aside."""
    return {v["name"]: v.get("allValue") or ".+" for v in variables(board) if v.get("type") != "datasource"}


def used_variables(expr: str) -> set[str]:
    return {a or b for a, b in _VARIABLE.findall(expr)}


def _escape(value: str) -> str:
    """A value as Grafana's Prometheus datasource writes it into a regex matcher (backslashes doubled)."""
    return re.sub(r"([\\^$.|?*+()\[\]{}])", r"\\\\\1", value)


def substitute(expr: str, values: Mapping[str, str | Sequence[str]], rate_interval: str = "5m") -> str:
    """`expr` with each `$var`/`${var}` replaced: a list of values becomes `(a|b)`, a plain string is taken
    as a regex (an allValue such as `.+`); Grafana's own variables get `BUILTINS`. An unknown variable is a
    ValueError."""
    builtins = {**BUILTINS, "__rate_interval": rate_interval}

    def replace(match: re.Match[str]) -> str:
        name = match.group(1) or match.group(2)
        if name in builtins:
            return builtins[name]
        if name not in values:
            raise ValueError(f"unknown dashboard variable ${name} in {expr!r}")
        value = values[name]
        if isinstance(value, str):
            return value
        escaped = [_escape(v) for v in value]
        return escaped[0] if len(escaped) == 1 else f"({'|'.join(escaped)})"

    return _VARIABLE.sub(replace, expr)


def metric_names(expr: str) -> set[str]:
    """Names of the series `expr` selects (not functions, keywords, labels or durations)."""
    text = _STRING.sub('""', expr)
    text = re.sub(r"\{[^{}]*\}", "{}", text)
    text = re.sub(r"\[[^\[\]]*\]", "[]", text)
    text = _LABEL_LIST.sub(" ", text)  # `sum by (x) (...)` becomes `sum  (...)`: a call
    return {name for name in _IDENTIFIER.findall(text) if name not in _KEYWORDS}


def _record_patterns() -> list[re.Pattern[str]]:
    """One pattern per family of alerts/records.py: Literal parameters take each value, quantiles each of
    records.QUANTILES, windows any duration."""
    patterns = []
    for _, function in inspect.getmembers(records, inspect.isfunction):
        if function.__module__ != records.__name__:
            continue
        hints = typing.get_type_hints(function)
        params = [p for p in inspect.signature(function).parameters]
        choices: list[Sequence[Any]] = []
        for param in params:
            hint = hints[param]
            if typing.get_origin(hint) is typing.Literal:
                choices.append(typing.get_args(hint))
            elif hint is float:
                choices.append(records.QUANTILES)
            else:
                choices.append(["\0"])
        for args in itertools.product(*choices):
            pattern = re.escape(function(*args)).replace("\0", r"\w+")
            patterns.append(re.compile(pattern))
    return patterns


class KnownSeries:
    """Series a dashboard may name: the exporter's catalogue (histograms with their _bucket, _count and _sum),
    the recording rules of alerts.build(cfg) and of alerts/records.py, and Prometheus' own."""

    def __init__(self, cfg: BundleConfig) -> None:
        names = set(PROMETHEUS_SERIES)
        for spec in by_name().values():
            names.add(spec.name)
            if spec.type == "histogram":
                names.update(f"{spec.name}_{suffix}" for suffix in ("bucket", "count", "sum"))
        names.update(
            rule.record for group in alerts.build(cfg) for rule in group.rules if isinstance(rule, Record)
        )
        self.names = frozenset(names)

    @cached_property
    def patterns(self) -> list[re.Pattern[str]]:
        return _record_patterns()

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and (name in self.names or any(p.fullmatch(name) for p in self.patterns))


def promtool_parse(exprs: Sequence[str], promtool: str = "promtool") -> dict[int, str]:
    """Prometheus' own parser on every expression, in one `promtool check rules` call (each wrapped as the
    recording rule `dashboard:query_<index>:check`): index -> message of each that does not parse (-1:
    promtool failed otherwise); empty when all parse."""
    rules = [{"record": f"dashboard:query_{i}:check", "expr": expr} for i, expr in enumerate(exprs)]
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "dashboard-queries.yaml"
        path.write_text(yaml.safe_dump({"groups": [{"name": "dashboard-queries", "rules": rules}]}))
        result = subprocess.run(
            [promtool, "check", "rules", str(path)], capture_output=True, text=True, timeout=120, check=False
        )
    if result.returncode == 0:
        return {}
    output = result.stdout + result.stderr
    found = {int(m.group(1)): m.group(2) for m in _PROMTOOL_PROBLEM.finditer(output)}
    return found or {-1: output.strip()}

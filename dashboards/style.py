"""House style over grafanalib: every panel gets a title, a description, a unit and the `${datasource}`
variable; every counter goes through `$__rate_interval`; layout and ids are computed, never hand-placed.

grafanalib 0.7.1 stays behind this module (its pitfalls are handled here), so the backend could change.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from grafanalib import core as g
from grafanalib._gen import DashboardEncoder

DATASOURCE = {"type": "prometheus", "uid": "${datasource}"}
SCHEMA_VERSION = 39  # Grafana 10/11; grafanalib defaults to 12
WIDTH = 24
HEIGHT = 8


def rate(selector: str) -> str:
    return f"rate({selector}[$__rate_interval])"


def increase(selector: str) -> str:
    return f"increase({selector}[$__rate_interval])"


def steps(base: str, *marks: tuple[float, str]) -> list[dict[str, Any]]:
    """Threshold steps: `base` colour below the first mark, then each (value, colour) upwards."""
    # Plain dicts: grafanalib's Threshold writes the base value as the string "null".
    return [{"color": base, "value": None}, *({"color": c, "value": float(v)} for v, c in marks)]


def value_map(texts: Mapping[str, tuple[str, str]]) -> list[dict[str, Any]]:
    """Value mappings: value -> (text, colour)."""
    options = {v: {"text": t, "color": c, "index": i} for i, (v, (t, c)) in enumerate(texts.items())}
    return [{"type": "value", "options": options}]


@dataclass(frozen=True)
class Query:
    expr: str
    legend: str
    format: str = "time_series"  # heatmap: bucket series ordered by `le`


@dataclass(frozen=True)
class Panel:
    """A panel before layout: what it shows and how wide it is (of 24 columns)."""

    kind: str  # timeseries | stat | state-timeline | heatmap
    title: str
    description: str
    unit: str
    queries: tuple[Query, ...]
    width: int = 12
    thresholds: list[dict[str, Any]] = field(default_factory=list)
    mappings: list[dict[str, Any]] = field(default_factory=list)
    min: int | None = None
    max: int | None = None
    shade_thresholds: bool = False
    height: int = HEIGHT

    def __post_init__(self) -> None:
        if not (self.title and self.description and self.unit and self.queries):
            raise ValueError(f"panel {self.title!r}: title, description, unit and a query are required")


def timeseries(title: str, description: str, unit: str, *queries: Query, **options: Any) -> Panel:
    return Panel("timeseries", title, description, unit, queries, **options)


def stat(title: str, description: str, unit: str, *queries: Query, **options: Any) -> Panel:
    return Panel("stat", title, description, unit, queries, **options)


def states(
    title: str, description: str, mapping: Mapping[str, tuple[str, str]], *queries: Query, **options: Any
) -> Panel:
    """A state timeline whose values `mapping` names and colours (value -> (text, colour))."""
    return Panel(
        "state-timeline", title, description, "short", queries, mappings=value_map(mapping), **options
    )


UP = {"0": ("failing", "red"), "1": ("ok", "green")}


def ratio_panel(title: str, description: str, query: Query, thresholds: list[dict[str, Any]]) -> Panel:
    """A 0-1 time series shown in percent, its threshold bands shaded."""
    return Panel(
        "timeseries",
        title,
        description,
        "percentunit",
        (query,),
        thresholds=thresholds,
        min=0,
        max=1,
        shade_thresholds=True,
    )


@dataclass(frozen=True)
class Section:
    """A row of the dashboard and the panels under it."""

    title: str
    panels: tuple[Panel, ...]


def _build(panel: Panel, ident: int, pos: g.GridPos) -> Any:
    targets = [
        g.Target(
            expr=q.expr,
            legendFormat=q.legend,
            refId=chr(ord("A") + i),
            datasource=DATASOURCE,
            format=q.format,
        )
        for i, q in enumerate(panel.queries)
    ]
    common: dict[str, Any] = {
        "title": panel.title,
        "description": panel.description,
        "dataSource": DATASOURCE,
        "targets": targets,
        "id": ident,
        "gridPos": pos,
        "editable": False,
        "thresholds": panel.thresholds,
        # grafanalib's default of 100 points makes coarse graphs; None lets Grafana use the panel width.
        "maxDataPoints": None,
        # Deep-merged last: sets the unit on panel types whose grafanalib class has no unit field.
        "extraJson": {"fieldConfig": {"defaults": {"unit": panel.unit}}},
    }
    if panel.kind == "timeseries":
        return g.TimeSeries(
            **common,
            unit=panel.unit,
            mappings=panel.mappings,
            valueMin=panel.min,
            valueMax=panel.max,
            thresholdsStyleMode="line+area" if panel.shade_thresholds else "off",
            legendDisplayMode="table",
            legendPlacement="right",
            legendCalcs=["mean", "max"],
            tooltipMode="multi",
        )
    if panel.kind == "stat":
        return g.Stat(**common, format=panel.unit, mappings=panel.mappings, reduceCalc="lastNotNull")
    if panel.kind == "state-timeline":
        return g.StateTimeline(**common, mappings=panel.mappings)
    if panel.kind == "heatmap":
        # Grafana 10's heatmap reads pre-bucketed series (calculate off) and takes its unit from the y axis.
        options = {"calculate": False, "yAxis": {"unit": panel.unit}, "cellGap": 1}
        common["extraJson"] = {**common["extraJson"], "options": options}
        return g.Heatmap(**common, dataFormat="tsbuckets", hideZeroBuckets=True)
    raise ValueError(f"panel {panel.title!r}: unknown kind {panel.kind!r}")


def layout(sections: Sequence[Section]) -> list[Any]:
    """Rows and panels with grid positions and ids; expanded rows' panels follow them as siblings."""
    out: list[Any] = []
    y = 0
    ident = 1
    for section in sections:
        out.append(g.RowPanel(title=section.title, id=ident, gridPos=g.GridPos(h=1, w=WIDTH, x=0, y=y)))
        ident, y, x, line = ident + 1, y + 1, 0, 0
        for panel in section.panels:
            if x + panel.width > WIDTH:
                x, y, line = 0, y + line, 0
            out.append(_build(panel, ident, g.GridPos(h=panel.height, w=panel.width, x=x, y=y)))
            ident, x, line = ident + 1, x + panel.width, max(line, panel.height)
        y += line
    return out


@dataclass(frozen=True)
class Link:
    """A link to a sibling dashboard by uid; it keeps the time range and the shared variables."""

    title: str
    uid: str

    def build(self) -> g.DashboardLink:
        return g.DashboardLink(
            title=self.title,
            type="link",
            uri=f"/d/{self.uid}",
            keepTime=True,
            includeVars=True,
            icon="dashboard",
        )


def datasource_variable() -> g.Template:
    return g.Template(
        name="datasource", label="Data source", query="prometheus", type="datasource", refresh=1
    )


ALL = ".+"
# For a label that may be absent (empty) on some series: static TF Serving targets have no namespace, and a
# model mid-rollout no version. All must then keep those series, which `.+` would drop.
ALL_OR_ABSENT = ".*"


def query_variable(
    name: str, label: str, query: str, all_value: str = ALL, opens_at_all: bool = True
) -> g.Template:
    """A multi-value variable that refreshes on time-range change, with All matching every value. One that
    does not open at All offers no All option: Grafana then opens the dashboard at its first value (a fleet
    of thousands of GPUs at All is too much for a per-node dashboard; several values can still be picked)."""
    return g.Template(
        name=name,
        label=label,
        query=query,
        dataSource=DATASOURCE,
        refresh=g.REFRESH_ON_TIME_RANGE_CHANGE,
        multi=True,
        includeAll=opens_at_all,
        allValue=all_value,
        default="$__all" if opens_at_all else None,
    )


def dashboard(
    uid: str,
    title: str,
    description: str,
    tags: Sequence[str],
    refresh: str,
    time_from: str,
    variables: Sequence[g.Template],
    sections: Sequence[Section],
    links: Sequence[Link] = (),
) -> dict[str, Any]:
    """The dashboard as Grafana's JSON model (a plain dict)."""
    board = g.Dashboard(
        title=title,
        uid=uid,
        description=description,
        tags=list(tags),
        editable=False,
        refresh=refresh,
        time=g.Time(time_from, "now"),
        schemaVersion=SCHEMA_VERSION,
        timezone="browser",
        graphTooltip=g.GRAPH_TOOLTIP_MODE_SHARED_CROSSHAIR,
        templating=g.Templating(list=[datasource_variable(), *variables]),
        panels=layout(sections),
        links=[link.build() for link in links],
    )
    data: dict[str, Any] = json.loads(json.dumps(board.to_json_data(), cls=DashboardEncoder))
    for variable in data["templating"]["list"]:
        if variable.get("includeAll") and variable["current"].get("value") == "$__all":
            variable["current"]["text"] = "All"
    return data


def to_json(data: dict[str, Any]) -> str:
    return json.dumps(data, indent=2, sort_keys=True) + "\n"

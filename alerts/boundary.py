"""Boundary tests derived from the config: promtool cases that put series just past an alert's threshold
(it must be pending one evaluation before its `for` runs out and firing at it) and just short of it (never
pending), so a site's own thresholds and durations get their own tests.

An area declares what crosses its thresholds as `Boundary` specs (`boundaries(cfg)` beside `groups(cfg)`);
`promtool_tests` turns any list of them into promtool test files. They check the `ALERTS` series, so
labels are exact and annotations (hand-written cases cover those) are left out.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from bundle.schema import BundleConfig, duration_seconds


@dataclass(frozen=True)
class Series:
    """One input series: metric name, labels, and promtool's expanding notation of its values."""

    name: str
    labels: Mapping[str, str]
    values: str

    def selector(self) -> str:
        inner = ", ".join(f'{k}="{v}"' for k, v in self.labels.items())
        return f"{self.name}{{{inner}}}"


@dataclass(frozen=True)
class Boundary:
    """An alert's threshold crossing. `firing` satisfies the condition from `onset` on and must fire exactly
    `for_` later; `silent` sits just short of the threshold and must never even be pending. `labels` are the
    firing alert's labels, severity included. `evaluation_interval` must divide `onset` and `for_`."""

    alert: str
    labels: Mapping[str, str]
    for_: str
    firing: Sequence[Series]
    silent: Sequence[Series]
    onset: str = "1m"
    evaluation_interval: str = "1m"
    note: str = field(default="", compare=False)


def cluster(cfg: BundleConfig) -> dict[str, str]:
    """The cluster label of every boundary series and alert, when the config names one."""
    label = cfg.naming.cluster_label
    return {label: "boundary"} if label else {}


def steady(name: str, labels: Mapping[str, str], value: float, for_: str) -> Series:
    """A series held at `value` from 0 until a few minutes past `for_`."""
    return Series(name, labels, f"{value:.12g}x{minutes_of(for_) + 3}")


def gauge(
    alert: str,
    labels: Mapping[str, str],
    for_: str,
    name: str,
    series_labels: Mapping[str, str],
    past: float,
    short: float,
) -> Boundary:
    """A gauge held at `past` from the start fires after `for_` with `labels`; held at `short`, never."""
    firing, silent = steady(name, series_labels, past, for_), steady(name, series_labels, short, for_)
    return Boundary(alert, labels, for_, [firing], [silent], onset="0m")


def health_gauge(alert: str, severity: str, for_: str, name: str, labels: Mapping[str, str]) -> Boundary:
    """A 0/1 health gauge kept whole by its alert: 0 from the start fires after `for_`, 1 never does."""
    return gauge(alert, {"severity": severity, **labels}, for_, name, labels, 0, 1)


def _seconds(text: str) -> int:
    return int(duration_seconds(text)) if text else 0


def _alerts(name: str, state: str, labels: Mapping[str, str] | None, at: int) -> dict[str, Any]:
    query = f'ALERTS{{alertname="{name}", alertstate="{state}"}}'
    samples = []
    if labels is not None:
        inner = ", ".join(f'{k}="{v}"' for k, v in {"alertname": name, "alertstate": state, **labels}.items())
        samples = [{"labels": f"ALERTS{{{inner}}}", "value": 1}]
    return {"expr": query, "eval_time": f"{at}s", "exp_samples": samples}


def cases(b: Boundary) -> list[dict[str, Any]]:
    """The promtool test groups of one boundary: the crossing, then the near miss."""
    step, onset, hold = _seconds(b.evaluation_interval), _seconds(b.onset), _seconds(b.for_)
    if onset % step or hold % step:
        raise ValueError(
            f"{b.alert}: onset {b.onset} and for {b.for_} must be multiples of {b.evaluation_interval}"
        )
    fire_at = onset + hold
    crossing = [_alerts(b.alert, "firing", b.labels, fire_at)]
    if hold:
        crossing += [
            _alerts(b.alert, "firing", None, fire_at - step),
            _alerts(b.alert, "pending", b.labels, fire_at - step),
        ]
    near_miss = [_alerts(b.alert, state, None, fire_at) for state in ("pending", "firing")]
    return [
        {"interval": "1m", "input_series": [_series(s) for s in b.firing], "promql_expr_test": crossing},
        {"interval": "1m", "input_series": [_series(s) for s in b.silent], "promql_expr_test": near_miss},
    ]


def _series(s: Series) -> dict[str, str]:
    return {"series": s.selector(), "values": s.values}


def promtool_tests(boundaries: Sequence[Boundary]) -> dict[str, dict[str, Any]]:
    """promtool test files (name -> content), one per evaluation interval in use."""
    files: dict[str, dict[str, Any]] = {}
    for b in boundaries:
        name = f"boundary-{b.evaluation_interval}-test.yaml"
        test = files.setdefault(
            name, {"rule_files": ["rules.yaml"], "evaluation_interval": b.evaluation_interval, "tests": []}
        )
        test["tests"].extend(cases(b))
    return files


def minutes_of(text: str) -> int:
    """Whole minutes of a duration (series lengths are counted in 1m samples)."""
    return -(-_seconds(text) // 60)

"""The global view against each cluster alone: vmalert on every cluster's series in VictoriaMetrics must raise
the alerts each cluster's Prometheus raises (its external cluster label added, as on the way to
Alertmanager), and every dashboard query must answer the same on both."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from alerts.model import Group
from benchmarks.fleet.engines import Engine, active_alerts
from dashboards.queries import all_values, panel_queries, substitute

# Labels only one engine adds: vmalert's group label (disabled, kept out anyway) and the series name.
_IGNORED = frozenset({"alertgroup", "__name__"})
# VictoriaMetrics' rate() does not extrapolate to the window's edges as Prometheus' does.
RELATIVE_TOLERANCE = 0.05

Labels = frozenset[tuple[str, str]]

# Panels whose answers differ by engine semantics, not by the bundle: (dashboard uid, panel title) -> why.
KNOWN_DIFFERENCES = {
    ("ml-gpu-fleet", "XID errors by node"): "increase() of a counter born inside the window (the exporter's "
    "XID counter is born at 1): VictoriaMetrics counts the first sample, Prometheus does not",
    ("ml-gpu-node", "XID errors"): "the same increase() of a newly born XID counter",
}

# The SLO windows of 6h and more sum each engine's own recorded 5m event rates (alerts/slo.py), which begin
# when that engine's rule evaluation begins: over backfilled history Prometheus and vmalert start apart, so
# these answers differ until the windows have filled on both.
SLO_RECORDS = ":slo_"
SLO_HISTORY = "SLO windows sum each engine's own recorded rates, which start when its rule evaluation starts"

# Panels over ALERTS count firing alerts: an alert turns from pending to firing at its own engine's
# evaluation, so at one instant the two may count one apart. Which alerts are active (pending or firing) is
# compared alert by alert in `alert_difference`, where no timing slack is needed.
ALERTS_READ = "ALERTS{"
ALERT_TIMING = "pending turns firing at each engine's own evaluation; active alerts are compared one by one"


def _labels(raw: Mapping[str, str], drop: frozenset[str] = frozenset()) -> Labels:
    return frozenset((k, v) for k, v in raw.items() if k not in _IGNORED | drop and v != "")


def slo_history_alerts(groups: Sequence[Group]) -> frozenset[str]:
    """Alerts over the SLO records: on backfilled history they differ by engine as the SLO panels do
    (SLO_HISTORY), so the global-view comparison lists them apart."""
    return frozenset(a.name for group in groups for a in group.alerts if SLO_RECORDS in a.expr)


def alert_difference(
    prometheus: Mapping[str, Engine],
    vmalert: Engine,
    cluster_label: str,
    known: frozenset[str] = frozenset(),
) -> tuple[set[Labels], set[Labels]]:
    """(alerts only the per-cluster Prometheus raise, alerts only vmalert raises), pending and firing;
    alerts named in `known` left out."""
    expected = {
        _labels({**alert, cluster_label: cluster})
        for cluster, engine in prometheus.items()
        for alert in active_alerts(engine)
        if alert.get("alertname") not in known
    }
    got = {_labels(alert) for alert in active_alerts(vmalert) if alert.get("alertname") not in known}
    return expected - got, got - expected


@dataclass(frozen=True)
class Mismatch:
    dashboard: str
    title: str
    cluster: str
    detail: str
    expr: str = ""

    @property
    def known(self) -> str:
        """Why the engines differ here, when it is a known difference of their semantics; else empty."""
        if SLO_RECORDS in self.expr:
            return SLO_HISTORY
        if ALERTS_READ in self.expr:
            return ALERT_TIMING
        return KNOWN_DIFFERENCES.get((self.dashboard, self.title), "")


def _close(a: float, b: float) -> bool:
    if math.isnan(a) or math.isnan(b):
        return math.isnan(a) and math.isnan(b)
    return math.isclose(a, b, rel_tol=RELATIVE_TOLERANCE, abs_tol=1e-9)


def _answer(engine: Engine, expr: str, at: float, drop: frozenset[str]) -> dict[Labels, float]:
    return {_labels(labels, drop): value for labels, value in engine.query(expr, at)}


def answer_mismatches(
    boards: list[dict[str, Any]],
    prometheus: Mapping[str, Engine],
    vm: Engine,
    cluster_label: str,
    at: float,
) -> tuple[int, list[Mismatch]]:
    """(queries compared, mismatches): each panel query at `at`, on each cluster's Prometheus with the
    cluster variable matching anything, and on VictoriaMetrics with it set to that cluster; the cluster
    label aside."""
    drop = frozenset({cluster_label})
    compared, out = 0, []
    for board in boards:
        for title, expr in panel_queries(board):
            if title == f"variable {cluster_label}":
                continue
            for cluster, engine in prometheus.items():
                values = all_values(board)
                local = substitute(expr, {**values, cluster_label: ".*"})
                global_ = substitute(expr, {**values, cluster_label: [cluster]})
                expected = _answer(engine, local, at, drop)
                got = _answer(vm, global_, at, drop)
                compared += 1
                detail = _difference(expected, got)
                if detail:
                    out.append(Mismatch(str(board["uid"]), title, cluster, detail, expr))
    return compared, out


def _difference(expected: dict[Labels, float], got: dict[Labels, float]) -> str:
    missing = expected.keys() - got.keys()
    extra = got.keys() - expected.keys()
    wrong = [k for k in expected.keys() & got.keys() if not _close(expected[k], got[k])]
    if not (missing or extra or wrong):
        return ""
    parts = []
    if missing:
        parts.append(f"{len(missing)} series only in Prometheus, e.g. {dict(next(iter(missing)))}")
    if extra:
        parts.append(f"{len(extra)} series only in VictoriaMetrics, e.g. {dict(next(iter(extra)))}")
    if wrong:
        k = wrong[0]
        parts.append(f"{len(wrong)} values differ, e.g. {dict(k)}: {expected[k]:.6g} vs {got[k]:.6g}")
    return "; ".join(parts)

"""Serving SLOs per model: availability and latency, multi-window multi-burn-rate (Google SRE workbook).

Each SLI records its error ratio over every window of records.SLO_WINDOWS and the SLO period, and the error
budget left over the period. The page fires when both windows of a pair burn faster than the factor allows
(14.4x over 1h and 5m, or 6x over 6h and 30m); the ticket likewise (3x over 1d and 2h, or 1x over 3d and 6h).
The latency SLI counts successful requests slower than slo.latency_threshold_seconds, a real bucket bound, so
it is exact where the P95 alert interpolates.
"""

from __future__ import annotations

from dataclasses import dataclass

from alerts import records
from alerts.boundary import Boundary
from alerts.model import Alert, Group, Record, Rule, Severity
from alerts.per_model import Scope, scopes, split_groups
from alerts.serving import WHERE
from alerts.serving_boundary import slo_boundaries
from alerts.serving_sli import MODEL, ServingSli
from bundle.latency_bounds import describe
from bundle.promql import selector
from bundle.schema import BundleConfig, duration_seconds


@dataclass(frozen=True)
class Burn:
    """An alert over window pairs: (long window, short window, burn factor), any pair firing."""

    name: str
    severity: Severity
    pairs: tuple[tuple[str, str, float], ...]


BURNS = (
    Burn("BurnFast", "critical", (("1h", "5m", 14.4), ("6h", "30m", 6))),
    Burn("BurnSlow", "warning", (("1d", "2h", 3), ("3d", "6h", 1))),
)
# Windows from 6h up sum the 5m event rates recorded here instead of reading days of raw series per rule.
BASE = "5m"
LONG = 6 * 3600
WHAT = {"availability": "requests that fail", "latency": "successful requests slower than the threshold"}


def groups(cfg: BundleConfig) -> list[Group]:
    uid = cfg.dashboards.serving_uid
    return [
        group
        for sli in ("availability", "latency")
        for group in split_groups(f"mlobs-slo-{sli}", _rules(cfg, sli), uid)
    ]


def boundaries(cfg: BundleConfig) -> list[Boundary]:
    return slo_boundaries(cfg)


def _budget(objective: float) -> str:
    return f"{1 - objective:.6g}"


def _rules(cfg: BundleConfig, sli: records.Sli) -> list[Rule]:
    serving = ServingSli.of(cfg)
    objective_key = ("slo", f"{sli}_objective")
    thresholds = [(scope, values[0]) for scope, values in scopes(cfg, ("slo", "latency_threshold_seconds"))]

    def events(window: str) -> tuple[str, str]:
        if sli == "availability":
            return serving.errors(window, MODEL), serving.traffic(window, MODEL)
        return serving.slow(window, thresholds), serving.successes(window)

    bad, total = records.slo_events(sli, "bad", BASE), records.slo_events(sli, "total", BASE)

    def ratio(window: str) -> str:
        if window == BASE:
            return f"{bad}\n/\n{total}"
        if duration_seconds(window) < LONG:
            return "{}\n/\n{}".format(*events(window))
        return f"sum_over_time({bad}[{window}])\n/\nsum_over_time({total}[{window}])"

    windows = (*records.SLO_WINDOWS, *([cfg.slo.period] if cfg.slo.period not in records.SLO_WINDOWS else []))
    rules: list[Rule] = [Record(name, expr) for name, expr in zip((bad, total), events(BASE), strict=True)]
    rules += [Record(records.slo_error_ratio(sli, w), ratio(w)) for w in windows]
    period = records.slo_error_ratio(sli, cfg.slo.period)
    remaining = "\nor\n".join(
        f"(1 - {selector(period, **scope)} / {_budget(objective)})"
        for scope, (objective,) in scopes(cfg, objective_key)
    )
    rules.append(Record(records.slo_budget_remaining(sli), remaining))
    # The latency alerts' descriptions name the threshold, so they split on it too.
    keys = (objective_key, ("slo", "latency_threshold_seconds")) if sli == "latency" else (objective_key,)
    for burn in BURNS:
        for scope, values in scopes(cfg, *keys):
            rules.append(_burn_alert(cfg, sli, burn, scope, values))
    return rules


def _burn_alert(
    cfg: BundleConfig, sli: records.Sli, burn: Burn, scope: Scope, values: tuple[float, ...]
) -> Alert:
    objective = values[0]
    budget = _budget(objective)

    def over(window: str, factor: float) -> str:
        return f"{selector(records.slo_error_ratio(sli, window), **scope)} / {budget} > {factor:g}"

    expr = "\nor\n".join(
        f"(\n  {over(long, f)}\n  and\n  {over(short, f)}\n)" for long, short, f in burn.pairs
    )
    pairs = ", or ".join(f"{f:g}x over {long} and {short}" for long, short, f in burn.pairs)
    threshold = f" under {describe(values[1])}" if sli == "latency" else ""
    spend = "pages" if burn.severity == "critical" else "opens a ticket"
    return Alert(
        f"{cfg.naming.alert_prefix}Slo{sli.capitalize()}{burn.name}",
        expr,
        burn.severity,
        f"A model burns its {sli} error budget {'fast' if burn.name == 'BurnFast' else 'steadily'}.",
        f"{WHERE} burns its {sli} error budget {{{{ $value | humanize }}}}x as fast as its "
        f"{objective * 100:g}%{threshold} objective over {cfg.slo.period} allows ({WHAT[sli]}); this "
        f"{spend} at {pairs}.",
    )

"""Model registry alerts from the exporter's own MLflow requests: an availability SLO with multi-window
multi-burn-rate alerts (Google SRE workbook), MLflow unreachable, stale or capped snapshots, and aliases that
point at versions not ready to serve."""

from __future__ import annotations

import math

from alerts import records
from alerts.boundary import Boundary, Series, gauge, minutes_of, steady
from alerts.mlflow_boundary import MARGIN, MlflowSite, seconds
from alerts.model import Alert, Group, Record, Rule
from alerts.selectors import cluster_metrics
from bundle.promql import Metrics, Re, join_labels
from bundle.schema import BundleConfig, duration_seconds

GROUP = "mlobs-registry"
# Error kinds of mlflow_request_errors_total that are the registry's fault (the catalogue's HELP); the rest
# (unauthorized, forbidden, not_found, client_error, pagination) are the exporter's configuration or the data.
REGISTRY_FAULT_KINDS = ("connection", "timeout", "tls", "server_error", "malformed")
# Model version statuses other than READY (MLflow's ModelVersionStatus).
NOT_READY_STATUSES = ("PENDING_REGISTRATION", "FAILED_REGISTRATION")
# (long window, short window, burn factor): both windows' error ratios above factor x budget fire.
PAGE_BURNS = (("1h", "5m", 14.4), ("6h", "30m", 6.0))
TICKET_BURNS = (("1d", "2h", 3.0), ("3d", "6h", 1.0))


def error_ratio_windows(cfg: BundleConfig) -> tuple[str, ...]:
    """Windows the registry's error ratio is recorded over: the burn windows, then the SLO period."""
    return tuple(dict.fromkeys((*records.SLO_WINDOWS, cfg.slo.period)))


def _error_ratio(cfg: BundleConfig, m: Metrics, window: str) -> str:
    by = m.by("mlflow_requests_total", cfg.naming.job_label)
    errors = m("mlflow_request_errors_total", kind=Re.any_of(REGISTRY_FAULT_KINDS))
    return (
        f"sum by ({by}) (rate({errors}[{window}]))\n/\n"
        f"sum by ({by}) (rate({m('mlflow_requests_total')}[{window}]))"
    )


def _burning(cfg: BundleConfig, burns: tuple[tuple[str, str, float], ...]) -> str:
    on = join_labels(cfg.naming.cluster_label, cfg.naming.job_label)
    budget = 1 - cfg.registry.availability_objective
    return f"\nor on ({on})\n".join(
        f"(\n  {records.registry_error_ratio(long)} > {round(factor * budget, 12):g}\nand on ({on})\n"
        f"  {records.registry_error_ratio(short)} > {round(factor * budget, 12):g}\n)"
        for long, short, factor in burns
    )


def groups(cfg: BundleConfig) -> list[Group]:
    r = cfg.registry
    m = cluster_metrics(cfg)
    prefix = f"{cfg.naming.alert_prefix}Registry"
    job = cfg.naming.job_label
    objective = f"{r.availability_objective * 100:g}%"
    per_version = join_labels(cfg.naming.cluster_label, "model", "version")
    alias_by = m.by("mlflow_model_alias_version", "model", "alias")
    age = "mlflow_snapshot_age_seconds"
    budget = round(1 - r.availability_objective, 12)
    rules: tuple[Rule, ...] = (
        *(Record(records.registry_error_ratio(w), _error_ratio(cfg, m, w)) for w in error_ratio_windows(cfg)),
        Record(
            records.registry_budget_remaining(),
            f"1 - {records.registry_error_ratio(cfg.slo.period)} / {budget:g}",
        ),
        Alert(
            f"{prefix}BurnFast",
            _burning(cfg, PAGE_BURNS),
            "critical",
            "The model registry is burning its availability error budget fast.",
            f"{{{{ $value | humanizePercentage }}}} of the exporter's MLflow requests failed by the "
            f"registry's fault over the last hour or six; at this rate the {cfg.slo.period} error budget "
            f"of the {objective} objective is gone within days.",
        ),
        Alert(
            f"{prefix}BurnSlow",
            _burning(cfg, TICKET_BURNS),
            "warning",
            "The model registry is spending its availability error budget too fast.",
            f"{{{{ $value | humanizePercentage }}}} of the exporter's MLflow requests failed by the "
            f"registry's fault over the last day or three; the {cfg.slo.period} error budget of the "
            f"{objective} objective will not last the period.",
        ),
        Alert(
            f"{prefix}Unreachable",
            f"max by ({m.by('mlflow_up', job)}) ({m('mlflow_up')}) == 0",
            "warning",
            "The exporter cannot read the MLflow registry.",
            f"Every MLflow refresh of {{{{ $labels.{job} }}}} failed for "
            f"{r.unreachable_for}; registry, training and monitoring data are frozen at the last good read "
            "(an outage of the registry itself pages through MLObsRegistryBurnFast). "
            "mlflow_request_errors_total tells connection, TLS, auth and server errors apart.",
            for_=r.unreachable_for,
        ),
        Alert(
            f"{prefix}SnapshotStale",
            f"max by ({m.by(age, job, 'section')}) ({m(age)}) > {duration_seconds(r.snapshot_stale_after):g}",
            "warning",
            "The exporter serves old MLflow data.",
            "The exporter's MLflow {{ $labels.section }} snapshot is {{ $value | humanizeDuration }} old "
            f"(stale after {r.snapshot_stale_after}); alerts on it judge old data.",
        ),
        Alert(
            f"{prefix}ItemsDropped",
            f"sum by ({m.by('mlflow_dropped_total', job, 'what')}) "
            f"(increase({m('mlflow_dropped_total')}[{r.items_dropped_window}])) > 0",
            "warning",
            "The exporter's caps leave MLflow items out.",
            f"The exporter left {{{{ $value | humanize }}}} {{{{ $labels.what }}}} out of its MLflow "
            f"snapshots in the last {r.items_dropped_window}; raise its mlflow caps or narrow what it reads.",
        ),
        Alert(
            f"{prefix}AliasNotReady",
            f'count_values by ({alias_by}) ("version", '
            f"max by ({alias_by}) ({m('mlflow_model_alias_version')}))\n"
            f"* on ({per_version}) group_left (status)\n"
            f"group by ({m.by('mlflow_model_version_info', 'model', 'version', 'status')}) "
            f"({m('mlflow_model_version_info', status=Re.any_of(NOT_READY_STATUSES))})",
            "warning",
            "A registry alias points at a model version that is not ready.",
            "Alias {{ $labels.alias }} of model {{ $labels.model }} points at version {{ $labels.version }}, "
            f"which is {{{{ $labels.status }}}} for {r.alias_not_ready_for}; whatever loads the alias gets a "
            "version that cannot be served.",
            for_=r.alias_not_ready_for,
        ),
    )
    return [Group(GROUP, rules, dashboard_uid=cfg.dashboards.models_uid)]


def boundaries(cfg: BundleConfig) -> list[Boundary]:
    """Each burn alert just past its lowest burn factor and just short of it; the gauges and counters just
    past their thresholds, durations and windows."""
    site, r = MlflowSite(cfg), cfg.registry
    job = site.alert("warning", **site.job)
    stale, section = seconds(r.snapshot_stale_after), {"section": "registry"}
    age = ("mlflow_snapshot_age_seconds", site.target(**section), stale + 1, stale)
    out = [
        _burn_boundary(site, "RegistryBurnFast", PAGE_BURNS, "critical"),
        _burn_boundary(site, "RegistryBurnSlow", TICKET_BURNS, "warning"),
        gauge(site.name("RegistryUnreachable"), job, r.unreachable_for, "mlflow_up", site.target(), 0, 1),
        gauge(site.name("RegistrySnapshotStale"), {**job, **section}, "", *age),
    ]
    # Judged a minute after the window: an item dropped at 3m is inside it, one dropped at 1m has left.
    window = minutes_of(r.items_dropped_window)
    dropped = site.target(what="versions")
    out.append(
        Boundary(
            site.name("RegistryItemsDropped"),
            {**job, "what": "versions"},
            "",
            [Series("mlflow_dropped_total", dropped, f"0x2 1x{window + 3}")],
            [Series("mlflow_dropped_total", dropped, f"0 1x{window + 3}")],
            onset=f"{window + 1}m",
        )
    )
    hold = r.alias_not_ready_for
    version = {"model": "boundary-model", "version": "2"}

    def alias(status: str) -> list[Series]:
        info = site.target(**version, status=status, stage="None")
        champion = site.target(model="boundary-model", alias="champion")
        return [
            steady("mlflow_model_alias_version", champion, 2, hold),
            steady("mlflow_model_version_info", info, 1, hold),
        ]

    labels = {**site.alert("warning", **version), "alias": "champion", "status": "FAILED_REGISTRATION"}
    out.append(
        Boundary(
            site.name("RegistryAliasNotReady"),
            labels,
            hold,
            alias("FAILED_REGISTRATION"),
            alias("READY"),
            onset="0m",
        )
    )
    return out


def _burn_boundary(
    site: MlflowSite, alert: str, burns: tuple[tuple[str, str, float], ...], severity: str
) -> Boundary:
    """Server errors at just past (and just short of) the lowest factor's share of a million requests a
    minute; at 10m every window's ratio is that share."""
    threshold = min(factor for _, _, factor in burns) * (1 - site.cfg.registry.availability_objective)
    requests = 1_000_000

    def traffic(errors: int) -> list[Series]:
        search = {"endpoint": "runs/search"}
        return [
            Series("mlflow_requests_total", site.target(**search), f"0+{requests}x20"),
            Series(
                "mlflow_request_errors_total",
                site.target(**search, kind="server_error"),
                f"0+{errors}x20",
            ),
        ]

    return Boundary(
        site.name(alert),
        site.alert(severity, **site.job),
        "",
        traffic(math.ceil(threshold * requests * (1 + MARGIN))),
        traffic(math.floor(threshold * requests * (1 - MARGIN))),
        onset="10m",
    )

"""Alerts on the exporters themselves: a job gone from Prometheus, targets down, a collector failing on a
target, and TF Serving discovery failing. Without these, every other alert can go silent unnoticed."""

from __future__ import annotations

from alerts.clusters import by_labels
from alerts.model import Alert, Group
from bundle.promql import Metrics
from bundle.schema import BundleConfig

GROUP = "mlobs-exporters"


def jobs(cfg: BundleConfig) -> tuple[str, ...]:
    """The exporters' scrape jobs, each once (TF Serving series may come from the GPU job)."""
    return tuple(dict.fromkeys((cfg.exporter.gpu_job, cfg.exporter.cluster_job, cfg.serving.job)))


def _up(cfg: BundleConfig, job: str | None = None) -> str:
    # `up` is Prometheus' own series, not the exporter's: it has no catalogue entry.
    return f'up{{{cfg.naming.job_label}="{job}"}}' if job else "up"


def groups(cfg: BundleConfig) -> list[Group]:
    x = cfg.exporters
    job_label, node_label = cfg.naming.job_label, cfg.naming.node_label
    prefix = f"{cfg.naming.alert_prefix}Exporter"
    cluster = by_labels(cfg)
    per_job = by_labels(cfg, job_label)
    per_target = by_labels(cfg, job_label, "instance", node_label)
    target = (
        f"{{{{ $labels.{job_label} }}}} target {{{{ $labels.instance }}}}"
        f"{{{{ if $labels.{node_label} }}}} on node {{{{ $labels.{node_label} }}}}{{{{ end }}}}"
    )
    up_targets = f'up{{{job_label}=~"{"|".join(jobs(cfg))}"}}'
    # A cluster that scrapes anything but none of a job's targets: absent(), kept per cluster.
    absent = "\nor\n".join(
        f"label_replace(\n  group by ({cluster}) ({_up(cfg)})\n  unless on ({cluster})\n"
        f'  group by ({cluster}) ({_up(cfg, job)}),\n  "{job_label}", "{job}", "", ""\n)'
        for job in jobs(cfg)
    )
    collector = "\nor\n".join(
        f"min by ({by_labels(cfg, job_label, 'instance', node_label, 'collector')}) "
        f"({_metrics(cfg, job)('mlobs_collector_success')}) == 0"
        for job in dict.fromkeys((cfg.exporter.gpu_job, cfg.exporter.cluster_job))
    )
    discovery = _metrics(cfg, cfg.serving.job)("tfserving_kubernetes_discovery_success")
    rules = (
        Alert(
            f"{prefix}Absent",
            absent,
            "critical",
            "An exporter job is missing from Prometheus.",
            f"Prometheus has no target of job {{{{ $labels.{job_label} }}}} for {x.absent_for}: its "
            "ServiceMonitor is not selected or the exporter is not deployed, and every alert on its series "
            "is blind.",
            for_=x.absent_for,
        ),
        Alert(
            f"{prefix}TargetsDown",
            f"sum by ({per_job}) ({up_targets} == bool 0)\n/\ncount by ({per_job}) ({up_targets})\n"
            f">= {x.targets_down_ratio:g}",
            "warning",
            "Some exporter targets are down.",
            f"{{{{ $value | humanizePercentage }}}} of the targets of job {{{{ $labels.{job_label} }}}} have "
            f"been down for {x.targets_down_for}; their nodes' series are missing.",
            for_=x.targets_down_for,
        ),
        Alert(
            f"{prefix}CollectorFailing",
            collector,
            "warning",
            "An exporter collector is failing.",
            f"The {{{{ $labels.collector }}}} collector of {target} has failed or returned partial data on "
            f"every scrape for {x.collector_failing_for}; its series there are incomplete.",
            for_=x.collector_failing_for,
        ),
        Alert(
            f"{cfg.naming.alert_prefix}ServingDiscoveryFailing",
            f"min by ({per_target}) ({discovery}) == 0",
            "warning",
            "TF Serving discovery through the Kubernetes API is failing.",
            f"The exporter {target} cannot list TF Serving pods for {x.discovery_failing_for}; it keeps "
            "scraping the pods of its last good listing, so new or moved pods are missed.",
            for_=x.discovery_failing_for,
        ),
    )
    return [Group(GROUP, rules, dashboard_uid=cfg.dashboards.overview_uid)]


def _metrics(cfg: BundleConfig, job: str) -> Metrics:
    return Metrics(cfg.naming.job_label, job, frozenset({cfg.naming.job_label}))

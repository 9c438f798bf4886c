"""Alerts on the exporters themselves: a job gone from Prometheus, targets down, a collector failing on a
target, and TF Serving discovery failing. Without these, every other alert can go silent unnoticed."""

from __future__ import annotations

import math

from alerts.boundary import Boundary, Series, health_gauge, steady
from alerts.boundary import cluster as boundary_cluster
from alerts.model import Alert, Group
from alerts.selectors import job_metrics
from bundle.promql import join_labels
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
    cluster = join_labels(cfg.naming.cluster_label)
    per_job = join_labels(cfg.naming.cluster_label, job_label)
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
    target_labels = ("instance", node_label)
    success = "mlobs_collector_success"
    collector = "\nor\n".join(
        f"min by ({m.by(success, job_label, *target_labels, 'collector')}) ({m(success)}) == 0"
        for m in (
            job_metrics(cfg, job, *target_labels)
            for job in dict.fromkeys((cfg.exporter.gpu_job, cfg.exporter.cluster_job))
        )
    )
    serving = job_metrics(cfg, cfg.serving.job, *target_labels)
    discovery = "tfserving_kubernetes_discovery_success"
    per_target = serving.by(discovery, job_label, *target_labels)
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
            f"min by ({per_target}) ({serving(discovery)}) == 0",
            "warning",
            "TF Serving discovery through the Kubernetes API is failing.",
            f"The exporter {target} cannot list TF Serving pods for {x.discovery_failing_for}; it keeps "
            "scraping the pods of its last good listing, so new or moved pods are missed.",
            for_=x.discovery_failing_for,
        ),
    )
    return [Group(GROUP, rules, dashboard_uid=cfg.dashboards.overview_uid)]


def boundaries(cfg: BundleConfig) -> list[Boundary]:
    """Each job gone while the cluster scrapes the others (and present); the share of down targets at its
    threshold (and one target short); a failing collector and discovery (and healthy ones)."""
    x, n = cfg.exporters, cfg.naming
    prefix = n.alert_prefix
    cluster = boundary_cluster(cfg)

    def up(job: str, value: int, for_: str, host: int = 0) -> Series:
        return steady("up", {**cluster, n.job_label: job, "instance": f"10.0.0.{host}:9847"}, value, for_)

    out = []
    for job in jobs(cfg):
        others = [up(other, 1, x.absent_for) for other in jobs(cfg) if other != job]
        out.append(
            Boundary(
                f"{prefix}ExporterAbsent",
                {"severity": "critical", **cluster, n.job_label: job},
                x.absent_for,
                [up("prometheus", 1, x.absent_for), *others],
                [up("prometheus", 1, x.absent_for), *others, up(job, 1, x.absent_for)],
                onset="0m",
            )
        )
    total, gpu_job = 20, cfg.exporter.gpu_job

    def targets(down: int) -> list[Series]:
        return [up(gpu_job, 0 if i < down else 1, x.targets_down_for, i) for i in range(total)]

    down = math.ceil(x.targets_down_ratio * total)
    out.append(
        Boundary(
            f"{prefix}ExporterTargetsDown",
            {"severity": "warning", **cluster, n.job_label: gpu_job},
            x.targets_down_for,
            targets(down),
            targets(down - 1),
            onset="0m",
        )
    )
    target = {**cluster, "instance": "10.0.9.1:9847", n.node_label: "gpu-node-1"}
    collector = {**target, n.job_label: gpu_job, "collector": "gpu"}
    discovery = {**target, n.job_label: cfg.serving.job}
    return [
        *out,
        health_gauge(
            f"{prefix}ExporterCollectorFailing",
            "warning",
            x.collector_failing_for,
            "mlobs_collector_success",
            collector,
        ),
        health_gauge(
            f"{prefix}ServingDiscoveryFailing",
            "warning",
            x.discovery_failing_for,
            "tfserving_kubernetes_discovery_success",
            discovery,
        ),
    ]

"""The bundle config as typed sections, and the checks a merged config must pass before anything is generated.

Each YAML section is one frozen dataclass whose fields are exactly the section's keys: adding a key to
bundle.yaml means adding a field here, and a check below when the value has rules beyond its type.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import urlsplit

from bundle import checks_models
from bundle.checks import CAMEL, DNS_LABEL, DNS_SUBDOMAIN, LABEL_NAME, Checks
from bundle.checks import duration_seconds as duration_seconds
from bundle.checks_experiments import check_experiments
from bundle.checks_serving import check_serving
from bundle.config import BundleConfigError, load
from bundle.sections import Drift, Experiments, Exporters, Models, Quality, Registry, Serving, Slo, Training
from exporter.gpu.nvml_types import CLOCK_EVENT_REASONS

# A device plugin resource name (domain/name) or a shell pattern of them, as --attribution.resource takes.
_RESOURCE = re.compile(r"^[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?/[-A-Za-z0-9_.*?\[\]]{1,63}$")


@dataclass(frozen=True)
class Naming:
    alert_prefix: str
    namespace: str
    selector_labels: Mapping[str, str]
    node_label: str
    job_label: str
    cluster_label: str


@dataclass(frozen=True)
class Links:
    runbook_url_pattern: str
    dashboard_url_pattern: str


@dataclass(frozen=True)
class Exporter:
    image: str
    image_pull_policy: str
    port: int
    scrape_interval: str
    scrape_timeout: str
    gpu_job: str
    cluster_job: str
    gpu_node_selector: Mapping[str, str]
    gpu_runtime_class: str
    gpu_resources: Mapping[str, Mapping[str, str]]
    cluster_resources: Mapping[str, Mapping[str, str]]
    cluster_extra_args: tuple[str, ...]
    mlflow_tracking_uri: str
    mlflow_credentials_secret: str


@dataclass(frozen=True)
class Gpu:
    utilization_target_low: float
    utilization_target_high: float
    underutilized_for: str
    allocated_memory_ratio: float
    rate_window: str
    lost_for: str
    temperature_warning_celsius: float
    temperature_critical_celsius: float
    temperature_for: str
    memory_used_warning_ratio: float
    memory_full_for: str
    critical_xids: tuple[int, ...]
    application_xids: tuple[int, ...]
    xid_window: str
    uncorrectable_ecc_errors: int
    bad_throttle_reasons: tuple[str, ...]
    throttle_for: str
    collector_down_for: str


@dataclass(frozen=True)
class Attribution:
    enabled: bool
    pod_resources_dir: str
    resources: tuple[str, ...]
    per_process: bool
    kubernetes_api: bool


@dataclass(frozen=True)
class Dashboards:
    overview_uid: str
    overview_title: str
    serving_uid: str
    models_uid: str
    gpu_fleet_uid: str
    gpu_node_uid: str
    tags: tuple[str, ...]
    refresh: str
    time_from: str
    configmap_labels: Mapping[str, str]


@dataclass(frozen=True)
class BundleConfig:
    naming: Naming
    links: Links
    exporter: Exporter
    gpu: Gpu
    attribution: Attribution
    dashboards: Dashboards
    serving: Serving
    slo: Slo
    models: Models
    drift: Drift
    quality: Quality
    training: Training
    registry: Registry
    exporters: Exporters
    experiments: Experiments


S = TypeVar("S")


def _section(cls: Callable[..., S], data: Mapping[str, Any]) -> S:
    names = [f.name for f in fields(cls)]  # type: ignore[arg-type]
    unread = set(data) - set(names)
    if unread:
        # bundle.yaml and these dataclasses list the same keys: a key nobody reads would be ignored silently.
        raise ValueError(f"{cls.__name__}: bundle.yaml keys without a field: {sorted(unread)}")
    values = {name: tuple(data[name]) if isinstance(data[name], list) else data[name] for name in names}
    return cls(**values)


def from_dict(data: Mapping[str, Any]) -> BundleConfig:
    """Typed sections of a merged config (types already match the defaults'; see `bundle.config`)."""
    return BundleConfig(
        naming=_section(Naming, data["naming"]),
        links=_section(Links, data["links"]),
        exporter=_section(Exporter, data["exporter"]),
        gpu=_section(Gpu, data["gpu"]),
        attribution=_section(Attribution, data["attribution"]),
        dashboards=_section(Dashboards, data["dashboards"]),
        serving=_section(Serving, data["serving"]),
        slo=_section(Slo, data["slo"]),
        models=_section(Models, data["models"]),
        drift=_section(Drift, data["drift"]),
        quality=_section(Quality, data["quality"]),
        training=_section(Training, data["training"]),
        registry=_section(Registry, data["registry"]),
        exporters=_section(Exporters, data["exporters"]),
        experiments=_section(Experiments, data["experiments"]),
    )


def check(cfg: BundleConfig) -> list[str]:
    """Every problem of a typed config beyond its types, each naming its key."""
    c = Checks()
    n, e, g, d = cfg.naming, cfg.exporter, cfg.gpu, cfg.dashboards
    c.require(
        bool(CAMEL.match(n.alert_prefix)),
        "naming.alert_prefix",
        f"must be CamelCase, got {n.alert_prefix!r}",
    )
    for key, name in (("namespace", n.namespace), ("gpu_job", e.gpu_job), ("cluster_job", e.cluster_job)):
        section = "naming" if key == "namespace" else "exporter"
        c.require(bool(DNS_LABEL.match(name)), f"{section}.{key}", f"must be a DNS label, got {name!r}")
    c.k8s_labels("naming.selector_labels", n.selector_labels)
    c.label_name("naming.node_label", n.node_label)
    c.label_name("naming.job_label", n.job_label)
    c.require(
        not n.cluster_label or bool(LABEL_NAME.match(n.cluster_label)),
        "naming.cluster_label",
        f"must be empty or a Prometheus label name, got {n.cluster_label!r}",
    )
    c.pattern("links.runbook_url_pattern", cfg.links.runbook_url_pattern, "alert")
    c.pattern("links.dashboard_url_pattern", cfg.links.dashboard_url_pattern, "uid")
    c.require(bool(e.image.strip()), "exporter.image", "must not be empty")
    pull_policies = ("Always", "IfNotPresent", "Never")
    c.require(
        e.image_pull_policy in pull_policies, "exporter.image_pull_policy", f"must be one of {pull_policies}"
    )
    c.require(
        1 <= e.port <= 65535 and isinstance(e.port, int), "exporter.port", f"must be a port, got {e.port!r}"
    )
    interval = c.duration("exporter.scrape_interval", e.scrape_interval)
    timeout = c.duration("exporter.scrape_timeout", e.scrape_timeout)
    c.require(timeout <= interval, "exporter.scrape_timeout", "must not exceed exporter.scrape_interval")
    c.k8s_labels("exporter.gpu_node_selector", e.gpu_node_selector)
    c.require(
        not e.gpu_runtime_class or bool(DNS_LABEL.match(e.gpu_runtime_class)),
        "exporter.gpu_runtime_class",
        f"must be empty or a DNS label, got {e.gpu_runtime_class!r}",
    )
    c.resources("exporter.gpu_resources", e.gpu_resources)
    c.resources("exporter.cluster_resources", e.cluster_resources)
    c.require(
        all(isinstance(a, str) and a.startswith("--") for a in e.cluster_extra_args),
        "exporter.cluster_extra_args",
        "must be a list of --flag=value strings",
    )
    uri = urlsplit(e.mlflow_tracking_uri)
    c.require(
        uri.scheme in ("http", "https") and bool(uri.hostname) and not uri.username,
        "exporter.mlflow_tracking_uri",
        f"must be an http(s) URL without credentials, got {e.mlflow_tracking_uri!r}",
    )
    c.require(
        not e.mlflow_credentials_secret or bool(DNS_SUBDOMAIN.match(e.mlflow_credentials_secret)),
        "exporter.mlflow_credentials_secret",
        "must be empty or a Secret name",
    )
    _check_gpu(c, g, interval)
    _check_attribution(c, cfg.attribution)
    check_serving(c, cfg.serving, cfg.slo, cfg.models, interval)
    uids = ("overview_uid", "serving_uid", "models_uid", "gpu_fleet_uid", "gpu_node_uid")
    for key in uids:
        c.require(bool(DNS_LABEL.match(getattr(d, key))), f"dashboards.{key}", "must be a lower-case slug")
    c.require(len({getattr(d, key) for key in uids}) == len(uids), "dashboards", "uids must differ")
    c.require(bool(d.overview_title.strip()), "dashboards.overview_title", "must not be empty")
    c.duration("dashboards.refresh", d.refresh)
    c.require(
        d.time_from.startswith("now-"), "dashboards.time_from", f"must be like now-6h, got {d.time_from!r}"
    )
    c.k8s_labels("dashboards.configmap_labels", d.configmap_labels)
    checks_models.check(c, cfg)
    check_experiments(c, cfg.experiments, uids=[getattr(d, key) for key in uids])
    return c.problems


def _check_gpu(c: Checks, g: Gpu, scrape_interval: float) -> None:
    for name in (
        "utilization_target_low",
        "utilization_target_high",
        "allocated_memory_ratio",
        "memory_used_warning_ratio",
    ):
        c.ratio(f"gpu.{name}", getattr(g, name))
    c.require(
        g.utilization_target_low < g.utilization_target_high,
        "gpu.utilization_target_low",
        "must be below gpu.utilization_target_high",
    )
    c.require(
        g.temperature_warning_celsius < g.temperature_critical_celsius,
        "gpu.temperature_warning_celsius",
        "must be below gpu.temperature_critical_celsius",
    )
    for name in (
        "underutilized_for",
        "lost_for",
        "temperature_for",
        "memory_full_for",
        "xid_window",
        "throttle_for",
        "collector_down_for",
    ):
        c.duration(f"gpu.{name}", getattr(g, name))
    window = c.duration("gpu.rate_window", g.rate_window)
    c.require(window >= 4 * scrape_interval, "gpu.rate_window", "must span at least 4 scrape intervals")
    for name in ("critical_xids", "application_xids"):
        xids = getattr(g, name)
        ok = bool(xids) and all(isinstance(x, int) and not isinstance(x, bool) and x > 0 for x in xids)
        c.require(ok, f"gpu.{name}", f"must be a non-empty list of XID numbers, got {list(xids)!r}")
    overlap = set(g.critical_xids) & set(g.application_xids)
    c.require(not overlap, "gpu.application_xids", f"must not repeat critical XIDs {sorted(overlap)}")
    c.require(
        isinstance(g.uncorrectable_ecc_errors, int) and g.uncorrectable_ecc_errors >= 1,
        "gpu.uncorrectable_ecc_errors",
        "must be an integer of at least 1",
    )
    known = [name for name, _ in CLOCK_EVENT_REASONS]
    ok = bool(g.bad_throttle_reasons) and all(r in known for r in g.bad_throttle_reasons)
    c.require(ok, "gpu.bad_throttle_reasons", f"must be a non-empty list of {', '.join(known)}")


def _check_attribution(c: Checks, a: Attribution) -> None:
    path = a.pod_resources_dir
    c.require(
        path.startswith("/") and path != "/" and ".." not in path.split("/"),
        "attribution.pod_resources_dir",
        f"must be an absolute directory path on the node, got {path!r}",
    )
    ok = bool(a.resources) and all(isinstance(r, str) and bool(_RESOURCE.match(r)) for r in a.resources)
    c.require(
        ok,
        "attribution.resources",
        f"must be a non-empty list of resource names like nvidia.com/gpu (shell patterns allowed), "
        f"got {list(a.resources)!r}",
    )
    c.require(a.enabled or not a.per_process, "attribution.per_process", "needs attribution.enabled")


def load_config(path: str | Path | None = None) -> BundleConfig:
    """The effective, checked config; BundleConfigError names every bad key on one line."""
    cfg = from_dict(load(path))
    problems = check(cfg)
    if problems:
        raise BundleConfigError(f"{path or 'bundle.yaml'}: " + "; ".join(problems))
    return cfg

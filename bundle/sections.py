"""Typed sections of the serving, SLO, model, training, registry and exporter parts of the bundle config.

Like `bundle.schema`, each dataclass's fields are exactly its YAML section's keys. Free-form mappings
(per-model and per-metric tables) stay mappings here; their checks live beside the alerts that read them.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Serving:
    collect_on_gpu_nodes: bool
    discovery_label_selector: str
    discovery_namespace: str
    job: str
    rate_window: str
    min_request_rate: float
    latency_p95_target_seconds: float
    latency_for: str
    error_ratio_warning: float
    error_ratio_for: str
    client_error_codes: tuple[str, ...]
    traffic_drop_ratio: float
    traffic_drop_offset: str
    traffic_drop_for: str
    no_available_version_for: str
    load_failed_for: str
    target_down_for: str
    registry_alias: str
    registry_rollout_window: str
    model_names: Mapping[str, str]


@dataclass(frozen=True)
class Slo:
    period: str
    availability_objective: float
    latency_objective: float
    latency_threshold_seconds: float


@dataclass(frozen=True)
class Models:
    overrides: Mapping[str, Mapping[str, Any]]


@dataclass(frozen=True)
class Drift:
    metrics: Mapping[str, Mapping[str, Any]]
    alert_for: str
    drifted_features_ratio_warning: float


@dataclass(frozen=True)
class Quality:
    metrics: Mapping[str, Mapping[str, Any]]
    alert_for: str
    monitoring_stale_after: str


@dataclass(frozen=True)
class Training:
    success_ratio_target: float
    window: str
    min_runs: int
    success_ratio_for: str
    killed_is_failure: bool
    no_success_for: str
    experiments: Mapping[str, Mapping[str, Any]]


@dataclass(frozen=True)
class Registry:
    availability_objective: float
    production_alias: str
    unreachable_for: str
    snapshot_stale_after: str
    items_dropped_window: str
    alias_not_ready_for: str


@dataclass(frozen=True)
class Exporters:
    absent_for: str
    targets_down_ratio: float
    targets_down_for: str
    collector_failing_for: str
    discovery_failing_for: str


@dataclass(frozen=True)
class Web:
    enabled: bool
    config_secret: str
    tls: bool
    ca_secret: str
    server_name: str
    client_cert_secret: str
    basic_auth: bool
    basic_auth_secret: str


@dataclass(frozen=True)
class Alertmanager:
    pager_url: str
    ticket_url: str
    info_url: str
    group_wait: str
    group_interval: str
    pager_repeat_interval: str
    ticket_repeat_interval: str


@dataclass(frozen=True)
class Autoscaling:
    metric_name: str
    rate_window: str
    example_deployment: str
    example_namespace: str
    example_target_ratio: float
    example_min_replicas: int
    example_max_replicas: int


@dataclass(frozen=True)
class Experiments:
    dashboard_uid: str
    evaluation_interval: str
    definitions: Mapping[str, Mapping[str, Any]]

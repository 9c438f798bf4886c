"""Boundary specs of the GPU alerts (alerts/boundary.py): the configured temperatures, memory ratio, throttle
reasons and `for` durations, on series labelled as the site's config names them."""

from __future__ import annotations

from alerts.boundary import Boundary, Series, cluster, gauge, health_gauge, steady
from bundle.schema import BundleConfig


def gpu_boundaries(cfg: BundleConfig) -> list[Boundary]:
    n, g = cfg.naming, cfg.gpu
    labels = {
        **cluster(cfg),
        n.job_label: cfg.exporter.gpu_job,
        "instance": "10.0.0.1:9847",
        n.node_label: "gpu-node-1",
        "gpu": "0",
        "uuid": "GPU-0",
    }
    node = {k: v for k, v in labels.items() if k not in ("gpu", "uuid")}
    prefix = f"{n.alert_prefix}Gpu"

    def held(name: str, value: float, for_: str, **extra: str) -> list[Series]:
        return [steady(name, {**labels, **extra}, value, for_)]

    def boundary(alert: str, severity: str, for_: str, name: str, past: float, short: float) -> Boundary:
        return gauge(f"{prefix}{alert}", {"severity": severity, **labels}, for_, name, labels, past, short)

    total = 80e9
    memory = "nvidia_gpu_memory_used_bytes"
    reason = g.bad_throttle_reasons[0]
    return [
        health_gauge(f"{prefix}Lost", "critical", g.lost_for, "nvidia_gpu_up", labels),
        boundary(
            "TemperatureHigh",
            "warning",
            g.temperature_for,
            "nvidia_gpu_temperature_celsius",
            g.temperature_warning_celsius,
            g.temperature_warning_celsius - 0.5,
        ),
        boundary(
            "TemperatureCritical",
            "critical",
            g.temperature_for,
            "nvidia_gpu_temperature_celsius",
            g.temperature_critical_celsius,
            g.temperature_critical_celsius - 0.5,
        ),
        Boundary(
            f"{prefix}MemoryNearlyFull",
            {"severity": "warning", **labels},
            g.memory_full_for,
            held(memory, total * g.memory_used_warning_ratio * 1.001, g.memory_full_for)
            + held("nvidia_gpu_memory_total_bytes", total, g.memory_full_for),
            held(memory, total * g.memory_used_warning_ratio * 0.99, g.memory_full_for)
            + held("nvidia_gpu_memory_total_bytes", total, g.memory_full_for),
            onset="0m",
        ),
        Boundary(
            f"{prefix}Throttled",
            {"severity": "warning", **labels, "reason": reason},
            g.throttle_for,
            held("nvidia_gpu_clock_event_active", 1, g.throttle_for, reason=reason),
            held("nvidia_gpu_clock_event_active", 1, g.throttle_for, reason="gpu_idle")
            + held("nvidia_gpu_clock_event_active", 0, g.throttle_for, reason=reason),
            onset="0m",
        ),
        health_gauge(f"{prefix}NvmlDown", "warning", g.collector_down_for, "nvidia_nvml_up", node),
    ]

"""Boundary specs of the GPU alerts (alerts/boundary.py): the configured temperatures, memory ratio, throttle
reasons and `for` durations, on series labelled as the site's config names them."""

from __future__ import annotations

from alerts.boundary import Boundary, Series, cluster, gauge, health_gauge, minutes_of, steady
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
        _ecc(cfg, labels, prefix),
        _xid(cfg, labels, prefix),
        _underutilized(cfg, labels, prefix),
    ]


def _ecc(cfg: BundleConfig, labels: dict[str, str], prefix: str) -> Boundary:
    """The configured count of uncorrectable errors pages at once; one fewer does not."""
    ecc = {**labels, "error_type": "uncorrected", "counter": "volatile"}
    count = cfg.gpu.uncorrectable_ecc_errors
    return gauge(
        f"{prefix}EccUncorrectable",
        {"severity": "critical", **ecc},
        "",
        "nvidia_gpu_ecc_errors_total",
        ecc,
        count,
        count - 1,
    )


def _xid(cfg: BundleConfig, labels: dict[str, str], prefix: str) -> Boundary:
    """A configured critical XID repeating pages at once; an XID of neither list stays silent."""
    g = cfg.gpu
    xid = str(g.critical_xids[0])
    other = str(next(x for x in range(1, 1000) if x not in g.critical_xids and x not in g.application_xids))
    window = minutes_of(g.xid_window)

    def repeating(code: str) -> Series:
        # Born before the window, so its increase (not the last-seen timestamp) is what fires.
        return Series("nvidia_gpu_xid_errors_total", {**labels, "xid": code}, f"1x{window + 1} 2x3")

    return Boundary(
        f"{prefix}XidCritical",
        {"severity": "critical", **labels, "xid": xid},
        "",
        [repeating(xid)],
        [repeating(other)],
        onset=f"{window + 2}m",
    )


def _underutilized(cfg: BundleConfig, labels: dict[str, str], prefix: str) -> Boundary:
    """An allocated GPU busy just under the low mark fires after `for`; just over it, never."""
    g = cfg.gpu
    minutes = minutes_of(g.underutilized_for) + 3
    total = 80e9

    def busy(ratio: float) -> list[Series]:
        held = total * g.allocated_memory_ratio * 2  # a job's memory: clearly allocated
        return [
            Series("nvidia_gpu_busy_seconds_total", labels, f"0+{ratio * 60:.12g}x{minutes}"),
            steady("nvidia_gpu_memory_used_bytes", labels, held, g.underutilized_for),
            steady("nvidia_gpu_memory_total_bytes", labels, total, g.underutilized_for),
        ]

    low = g.utilization_target_low
    return Boundary(
        f"{prefix}Underutilized",
        {"severity": "warning", **labels},
        g.underutilized_for,
        busy(low * 0.98),
        busy(low * 1.02),
    )

"""The per-GPU section of the GPU node dashboard: efficiency against the target band, memory, heat, power and
health."""

from __future__ import annotations

from typing import Any

from bundle.promql import Re
from bundle.schema import BundleConfig
from dashboards.scope import Scoped, gpu_metrics
from dashboards.style import Panel, Query, Section, increase, rate, ratio_panel, steps, value_map


def metrics(cfg: BundleConfig) -> Scoped:
    return gpu_metrics(cfg)


def variables_scope(cfg: BundleConfig) -> dict[str, Re]:
    """Matchers every GPU query carries: the dashboard's node and gpu variables."""
    return {cfg.naming.node_label: Re("$node"), "gpu": Re("$gpu")}


def band(cfg: BundleConfig) -> list[dict[str, Any]]:
    """The utilization target band: red below it, green in it, orange above it."""
    g = cfg.gpu
    return steps("red", (g.utilization_target_low, "green"), (g.utilization_target_high, "orange"))


def _listed(numbers: tuple[int, ...]) -> str:
    return ", ".join(map(str, numbers))


def section(cfg: BundleConfig) -> Section:
    g = cfg.gpu
    m = metrics(cfg)
    scope = variables_scope(cfg)
    used, total = m("nvidia_gpu_memory_used_bytes", **scope), m("nvidia_gpu_memory_total_bytes", **scope)
    node_scope = {cfg.naming.node_label: Re("$node")}
    on = f"{{{{{cfg.naming.node_label}}}}} GPU {{{{gpu}}}}"
    target_band = band(cfg)
    target = f"{g.utilization_target_low:.0%}-{g.utilization_target_high:.0%}"
    panels = (
        ratio_panel(
            "GPU utilization",
            "Share of time a kernel ran, as NVML samples it (nvidia_gpu_utilization_ratio). The shaded "
            f"band is the training target {target}: below it the GPU waits on input, above it there is no "
            "headroom.",
            Query(m("nvidia_gpu_utilization_ratio", **scope), on),
            target_band,
        ),
        ratio_panel(
            "GPU busy ratio",
            "Average busy share over each interval from the busy-time counter: unlike the utilization gauge "
            f"it misses nothing between scrapes. Target band {target}.",
            Query(rate(m("nvidia_gpu_busy_seconds_total", **scope)), on),
            target_band,
        ),
        ratio_panel(
            "GPU memory used",
            "Framebuffer memory in use per GPU; the threshold line marks the "
            f"{g.memory_used_warning_ratio:.0%} of total at which the nearly-full alert starts counting.",
            Query(f"{used} / {total}", on),
            steps("green", (g.memory_used_warning_ratio, "red")),
        ),
        Panel(
            "timeseries",
            "GPU temperature",
            f"Die temperature; warning from {g.temperature_warning_celsius:g} °C, critical from "
            f"{g.temperature_critical_celsius:g} °C (the alert thresholds).",
            "celsius",
            (Query(m("nvidia_gpu_temperature_celsius", **scope), on),),
            thresholds=steps(
                "green", (g.temperature_warning_celsius, "orange"), (g.temperature_critical_celsius, "red")
            ),
            shade_thresholds=True,
        ),
        Panel(
            "timeseries",
            "GPU power",
            "Power draw per GPU against its enforced power limit: a GPU pinned at its limit is power-capped.",
            "watt",
            (
                Query(m("nvidia_gpu_power_watts", **scope), on),
                Query(m("nvidia_gpu_power_limit_watts", **scope), f"{on} limit"),
            ),
        ),
        Panel(
            "timeseries",
            "Clock throttle reasons",
            "Reasons the driver is holding clocks down, one series per active reason (1 = active). Idle and "
            "application-clock reasons are normal; thermal, power-brake and hardware slowdown are not.",
            "short",
            (Query(f"{m('nvidia_gpu_clock_event_active', **scope)} == 1", f"{on} {{{{reason}}}}"),),
        ),
        Panel(
            "timeseries",
            "XID errors",
            "XID events per interval by XID number. Hardware-critical XIDs "
            f"({_listed(g.critical_xids)}) page; application faults ({_listed(g.application_xids)}) open a "
            "ticket.",
            "short",
            (Query(f"{increase(m('nvidia_gpu_xid_errors_total', **scope))} > 0", f"{on} XID {{{{xid}}}}"),),
            width=8,
        ),
        Panel(
            "state-timeline",
            "GPU health",
            "Whether each GPU answers NVML; 'lost' means it fell off the bus or the driver lost it.",
            "short",
            (Query(m("nvidia_gpu_up", **scope), on),),
            mappings=value_map({"0": ("lost", "red"), "1": ("up", "green")}),
            width=8,
        ),
        Panel(
            "state-timeline",
            "GPU collection",
            "Whether NVML answers on each node, and whether the exporter's GPU collector completed its last "
            "scrape (failed or partial collections show as failing).",
            "short",
            (
                Query(m("nvidia_nvml_up", **node_scope), f"{{{{{cfg.naming.node_label}}}}} NVML"),
                Query(
                    m("mlobs_collector_success", collector="gpu", **node_scope),
                    f"{{{{{cfg.naming.node_label}}}}} collector",
                ),
            ),
            mappings=value_map({"0": ("failing", "red"), "1": ("ok", "green")}),
            width=8,
        ),
    )
    return Section("GPUs", panels)

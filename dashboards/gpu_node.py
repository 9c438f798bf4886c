"""GPU node: everything the exporter exports per GPU of the chosen nodes, their MIG instances, and who holds
each GPU (attribution). The GPU alerts link here."""

from __future__ import annotations

from typing import Any

from bundle.promql import Re
from bundle.schema import BundleConfig
from dashboards import attribution, gpu, gpu_readings
from dashboards.scope import board, cluster_variables
from dashboards.style import (
    UP,
    Query,
    Section,
    increase,
    query_variable,
    rate,
    states,
    steps,
    timeseries,
)


def _legend(cfg: BundleConfig, suffix: str = "") -> str:
    return f"{{{{{cfg.naming.node_label}}}}} GPU {{{{gpu}}}}{suffix}"


def details(cfg: BundleConfig) -> Section:
    m = gpu.metrics(cfg)
    scope = gpu.variables_scope(cfg)
    on = _legend(cfg)
    return Section(
        "GPU details",
        (
            timeseries(
                "Memory bandwidth utilization",
                "Share of the driver's sample period in which device memory was read or written: high with "
                "low SM utilization means a memory-bound workload.",
                "percentunit",
                Query(m("nvidia_gpu_memory_utilization_ratio", **scope), on),
                min=0,
                max=1,
            ),
            timeseries(
                "Memory reserved and installed",
                "Device memory reserved by the driver and firmware, and installed: what the framework can "
                "never get.",
                "bytes",
                Query(m("nvidia_gpu_memory_reserved_bytes", **scope), f"{on} reserved"),
                Query(m("nvidia_gpu_memory_total_bytes", **scope), f"{on} installed"),
            ),
            timeseries(
                "Clocks",
                "SM and memory clocks: an SM clock far below its usual value under load means throttling.",
                "hertz",
                Query(m("nvidia_gpu_sm_clock_hertz", **scope), f"{on} SM"),
                Query(m("nvidia_gpu_memory_clock_hertz", **scope), f"{on} memory"),
            ),
            timeseries(
                "Performance state",
                "P-state: 0 is maximum performance, 15 minimum. A busy GPU should sit at P0.",
                "short",
                Query(m("nvidia_gpu_performance_state", **scope), on),
                width=6,
            ),
            timeseries(
                "Fan speed",
                "Intended fan speed as a share of maximum (absent on passively cooled boards).",
                "percentunit",
                Query(m("nvidia_gpu_fan_speed_ratio", **scope), on),
                width=6,
                min=0,
                max=1,
            ),
            timeseries(
                "Power from the energy counter",
                "Average power over each interval from the energy counter (Volta and newer): unlike the "
                "power gauge it misses no spike between scrapes.",
                "watt",
                Query(rate(m("nvidia_gpu_energy_joules_total", **scope)), on),
            ),
            timeseries(
                "PCIe throughput",
                "Bytes per second over PCIe from the byte counters (tx from the GPU, rx to it), and the 20 "
                "ms samples where --gpu.pcie-throughput-sampling is on.",
                "Bps",
                Query(rate(m("nvidia_gpu_pcie_bytes_total", **scope)), f"{on} {{{{direction}}}}"),
                Query(
                    m("nvidia_gpu_pcie_throughput_bytes_per_second", **scope),
                    f"{on} {{{{direction}}}} sampled",
                ),
            ),
            timeseries(
                "PCIe replays",
                "Packets the link had to send again: a rising rate means a failing link or riser.",
                "ops",
                Query(rate(m("nvidia_gpu_pcie_replays_total", **scope)), on),
            ),
        ),
    )


def memory_errors(cfg: BundleConfig) -> Section:
    m = gpu.metrics(cfg)
    scope = gpu.variables_scope(cfg)
    node = cfg.naming.node_label
    on = _legend(cfg)
    pending = {"0": ("no", "green"), "1": ("pending", "orange")}
    return Section(
        "Memory errors and the driver",
        (
            timeseries(
                "ECC errors",
                "ECC errors per interval since the last driver load, by type; uncorrectable ones at or above "
                f"{cfg.gpu.uncorrectable_ecc_errors} page.",
                "short",
                Query(
                    increase(m("nvidia_gpu_ecc_errors_total", counter="volatile", **scope)),
                    f"{on} {{{{error_type}}}}",
                ),
                width=8,
            ),
            timeseries(
                "Remapped and retired memory",
                "Memory rows remapped (Ampere and newer) and pages retired (up to Volta) per interval after "
                "ECC errors.",
                "short",
                Query(increase(m("nvidia_gpu_remapped_rows_total", **scope)), f"{on} rows {{{{severity}}}}"),
                Query(increase(m("nvidia_gpu_retired_pages_total", **scope)), f"{on} pages {{{{cause}}}}"),
                width=8,
            ),
            states(
                "Remaps and retirements pending",
                "A pending row remap or page retirement waits for a GPU reset or driver reload; a failed "
                "remap means the GPU needs service.",
                pending,
                Query(m("nvidia_gpu_remapped_rows_pending", **scope), f"{on} remap"),
                Query(m("nvidia_gpu_retired_pages_pending", **scope), f"{on} retirement"),
                Query(m("nvidia_gpu_remapped_rows_failure", **scope), f"{on} remap failed"),
                width=8,
            ),
            timeseries(
                "NVML errors and hangs",
                "NVML calls that failed, by kind, and scrapes whose NVML reads timed out or had to "
                "initialise NVML again: the driver's health as the exporter sees it.",
                "ops",
                Query(
                    rate(m("nvidia_nvml_errors_total", **{node: Re("$node")})),
                    f"{{{{{node}}}}} {{{{kind}}}}",
                ),
                Query(
                    rate(m("nvidia_nvml_call_timeouts_total", **{node: Re("$node")})),
                    f"{{{{{node}}}}} timeouts",
                ),
                Query(rate(m("nvidia_nvml_reinits_total", **{node: Re("$node")})), f"{{{{{node}}}}} reinits"),
            ),
            timeseries(
                "Time since each XID",
                "Time since each GPU last reported each XID (since the exporter started): a short time on a "
                f"critical XID ({', '.join(map(str, cfg.gpu.critical_xids))}) means broken hardware or "
                "driver.",
                "s",
                Query(
                    f"time() - {m('nvidia_gpu_xid_last_seen_timestamp_seconds', **scope)}",
                    f"{on} XID {{{{xid}}}}",
                ),
            ),
        ),
    )


def mig(cfg: BundleConfig) -> Section:
    m = gpu.metrics(cfg)
    scope = gpu.variables_scope(cfg)
    on = _legend(cfg)
    used = m("nvidia_gpu_mig_memory_used_bytes", **scope)
    total = m("nvidia_gpu_mig_memory_total_bytes", **scope)
    return Section(
        "MIG",
        (
            states(
                "MIG mode",
                "Whether MIG mode is on for each GPU that supports it.",
                {"0": ("off", "blue"), "1": ("on", "purple")},
                Query(m("nvidia_gpu_mig_mode_enabled", **scope), on),
                width=8,
            ),
            states(
                "MIG instances",
                "MIG devices on each GPU by profile (GPU and compute instance ids). NVML reports no "
                "utilization for MIG devices; memory and per-pod attribution work.",
                {"1": ("present", "green")},
                Query(
                    m("nvidia_gpu_mig_instance_info", **scope),
                    f"{on} {{{{profile}}}} GI {{{{gpu_instance}}}} CI {{{{compute_instance}}}}",
                ),
                width=8,
            ),
            timeseries(
                "MIG memory used",
                "Memory in use in each MIG device, as a share of the device's memory.",
                "percentunit",
                Query(f"{used} / {total}", f"{on} {{{{mig_uuid}}}}"),
                thresholds=steps("green", (cfg.gpu.memory_used_warning_ratio, "red")),
                min=0,
                max=1,
                width=8,
            ),
        ),
    )


def collection(cfg: BundleConfig) -> Section:
    node = cfg.naming.node_label
    m = gpu.metrics(cfg)
    return Section(
        "Exporter",
        (
            states(
                "Collectors",
                "Whether each collector of the GPU exporter completed its last collection on each node.",
                UP,
                Query(
                    m("mlobs_collector_success", **{node: Re("$node")}), f"{{{{{node}}}}} {{{{collector}}}}"
                ),
            ),
            timeseries(
                "Collection time",
                "Wall time each collector took during the scrape: a slow GPU collector means a slow driver.",
                "s",
                Query(
                    m("mlobs_collector_duration_seconds", **{node: Re("$node")}),
                    f"{{{{{node}}}}} {{{{collector}}}}",
                ),
            ),
            timeseries(
                "HTTP refusals",
                "Connections and requests the exporter's HTTP front refused or lost, per second: a refused "
                "scrape is a gap in every series above, and this is where it shows (503: every worker busy; "
                "timed out: no complete request in time; 400: malformed, or plain HTTP on the TLS port).",
                "reqps",
                Query(
                    rate(
                        m(
                            "mlobs_http_events_total",
                            **{node: Re("$node"), "event": Re("accepted|queued|answered", negate=True)},
                        )
                    ),
                    f"{{{{{node}}}}} {{{{event}}}}",
                ),
            ),
        ),
    )


def build(cfg: BundleConfig) -> dict[str, Any]:
    d = cfg.dashboards
    node = cfg.naming.node_label
    m = gpu.metrics(cfg)
    sections = [gpu.section(cfg), details(cfg), memory_errors(cfg), mig(cfg)]
    if cfg.attribution.enabled:
        sections.append(attribution.section(cfg))
    sections.append(collection(cfg))
    more = gpu_readings.section(cfg, gpu_readings.drawn_names(sections))
    if more is not None:
        sections.insert(-1, more)
    return board(
        cfg,
        uid=d.gpu_node_uid,
        title="GPU node",
        description="Every GPU of the chosen nodes: efficiency, memory, heat, power, errors, MIG instances "
        "and the pods and models that hold them.",
        variables=[
            *cluster_variables(cfg, m, "nvidia_gpu_info"),
            # One node at first: at All, each per-GPU panel draws every GPU of the fleet (docs/scale.md).
            query_variable(
                "node", "Node", f"label_values({m('nvidia_gpu_info')}, {node})", opens_at_all=False
            ),
            query_variable("gpu", "GPU", f"label_values({m('nvidia_gpu_info', **{node: Re('$node')})}, gpu)"),
        ],
        sections=sections,
    )

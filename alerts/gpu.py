"""GPU alerts: hardware health (lost GPUs, XIDs, ECC, row remapping, heat, throttling), efficiency, and NVML
as the exporter sees it (the collectors' own health is the exporter group's).

Under-utilization is scoped to allocated GPUs: a GPU counts as allocated while a process holds more than
`gpu.allocated_memory_ratio` of its memory. Frameworks hold their memory for the whole job, data-loading
stalls included, while an idle GPU holds a few MiB, so this needs no scheduler data; pod attribution can
narrow it later.
"""

from __future__ import annotations

from alerts.boundary import Boundary
from alerts.gpu_boundary import gpu_boundaries
from alerts.model import Alert, Group, Record
from alerts.selectors import job_metrics
from bundle.promql import Metrics, Re
from bundle.schema import BundleConfig, duration_seconds

GROUP = "mlobs-gpu"


def busy_record(cfg: BundleConfig) -> str:
    """Name of the recorded per-GPU busy ratio (rate of the busy-time counter over `gpu.rate_window`)."""
    return f"gpu:nvidia_gpu_busy:ratio_rate{cfg.gpu.rate_window}"


def boundaries(cfg: BundleConfig) -> list[Boundary]:
    return gpu_boundaries(cfg)


def groups(cfg: BundleConfig) -> list[Group]:
    g = cfg.gpu
    node = f"{{{{ $labels.{cfg.naming.node_label} }}}}"
    on_gpu = f"GPU {{{{ $labels.gpu }}}} on node {node}"
    m = job_metrics(cfg, cfg.exporter.gpu_job, cfg.naming.node_label, "instance")
    prefix = f"{cfg.naming.alert_prefix}Gpu"
    used_ratio = f"{m('nvidia_gpu_memory_used_bytes')} / {m('nvidia_gpu_memory_total_bytes')}"
    busy = f"rate({m('nvidia_gpu_busy_seconds_total')}[{g.rate_window}])"

    def xid_seen(xids: tuple[int, ...]) -> str:
        # increase() keeps a repeated identical XID visible; the last-seen timestamp catches the first one,
        # whose counter series is born at 1 and so has no increase inside its first window.
        xid = Re.any_of(xids)
        return (
            f"increase({m('nvidia_gpu_xid_errors_total', xid=xid)}[{g.xid_window}]) > 0\n"
            f"or\ntime() - {m('nvidia_gpu_xid_last_seen_timestamp_seconds', xid=xid)}"
            f" < {duration_seconds(g.xid_window):g}"
        )

    rules = (
        Record(busy_record(cfg), busy),
        Alert(
            f"{prefix}Lost",
            f"{m('nvidia_gpu_up')} == 0",
            "critical",
            "A GPU is lost: it fell off the bus or stopped answering the driver.",
            f"{on_gpu} does not answer NVML (lost, or fell off the bus); work on it has failed. "
            "Drain the node and reset the GPU or reboot.",
            for_=g.lost_for,
        ),
        Alert(
            f"{prefix}XidCritical",
            xid_seen(g.critical_xids),
            "critical",
            "A GPU reported a hardware or driver XID error.",
            f"{on_gpu} reported XID {{{{ $labels.xid }}}} in the last {g.xid_window}; this XID means broken "
            "hardware or driver state.",
        ),
        Alert(
            f"{prefix}XidApplication",
            xid_seen(g.application_xids),
            "warning",
            "A GPU reported an application fault XID.",
            f"{on_gpu} reported XID {{{{ $labels.xid }}}} in the last {g.xid_window}: a program's kernel "
            "faulted (bad memory access or illegal instruction); the GPU itself is fine.",
        ),
        Alert(
            f"{prefix}TemperatureHigh",
            f"{m('nvidia_gpu_temperature_celsius')} >= {g.temperature_warning_celsius:g}",
            "warning",
            "A GPU is running hot.",
            f"{on_gpu} is at {{{{ $value }}}} °C for {g.temperature_for} (warning at "
            f"{g.temperature_warning_celsius:g} °C); check cooling and airflow.",
            for_=g.temperature_for,
        ),
        Alert(
            f"{prefix}TemperatureCritical",
            f"{m('nvidia_gpu_temperature_celsius')} >= {g.temperature_critical_celsius:g}",
            "critical",
            "A GPU is overheating.",
            f"{on_gpu} is at {{{{ $value }}}} °C for {g.temperature_for} (critical at "
            f"{g.temperature_critical_celsius:g} °C); it throttles hard and may shut down.",
            for_=g.temperature_for,
        ),
        Alert(
            f"{prefix}EccUncorrectable",
            f"{m('nvidia_gpu_ecc_errors_total', error_type='uncorrected', counter='volatile')}"
            f" >= {g.uncorrectable_ecc_errors}",
            "critical",
            "A GPU has uncorrectable memory errors.",
            f"{on_gpu} counted {{{{ $value }}}} uncorrectable ECC errors since its last reset; results "
            "computed on it may be corrupt. Drain the node and reset the GPU.",
        ),
        Alert(
            f"{prefix}RemappedRowsPending",
            f"{m('nvidia_gpu_remapped_rows_pending')} > 0",
            "warning",
            "A GPU needs a reset to remap failing memory rows.",
            f"{on_gpu} has memory row remappings pending; they take effect at the next GPU reset.",
        ),
        Alert(
            f"{prefix}RemappedRowsFailed",
            f"{m('nvidia_gpu_remapped_rows_failure')} > 0",
            "critical",
            "A GPU failed to remap a memory row.",
            f"{on_gpu} ran out of spare memory rows or failed a remapping; the GPU needs replacement.",
        ),
        Alert(
            f"{prefix}Throttled",
            f"{m('nvidia_gpu_clock_event_active', reason=Re.any_of(g.bad_throttle_reasons))} == 1",
            "warning",
            "A GPU is throttled for a hardware, thermal or power reason.",
            f"{on_gpu} has been slowed down by {{{{ $labels.reason }}}} for {g.throttle_for}.",
            for_=g.throttle_for,
        ),
        Alert(
            f"{prefix}MemoryNearlyFull",
            f"{used_ratio} >= {g.memory_used_warning_ratio:g}",
            "warning",
            "A GPU's memory is nearly full.",
            f"{on_gpu} has used {{{{ $value | humanizePercentage }}}} of its memory for {g.memory_full_for}; "
            "the next allocation may fail with out-of-memory.",
            for_=g.memory_full_for,
        ),
        Alert(
            f"{prefix}Underutilized",
            # The busy ratio as the record has it, computed here rather than read back from the record: the
            # record lives in a group of its own (below), and a record read from another group lags it.
            f"{busy} < {g.utilization_target_low:g}\nand\n{used_ratio} > {g.allocated_memory_ratio:g}",
            "warning",
            "An allocated GPU is busy less than its utilization target.",
            f"{on_gpu} holds a job but was busy {{{{ $value | humanizePercentage }}}} of the time for "
            f"{g.underutilized_for} (target {g.utilization_target_low:.0%}); look for input-pipeline stalls "
            "or an oversized allocation.",
            for_=g.underutilized_for,
        ),
        Alert(
            f"{prefix}NvmlDown",
            f"{m('nvidia_nvml_up')} == 0",
            "warning",
            "The exporter cannot talk to the NVIDIA driver.",
            f"NVML has been down on node {node} for {g.collector_down_for}; GPU metrics there are missing, "
            "so GPU alerts cannot fire.",
            for_=g.collector_down_for,
        ),
        _fake_data(cfg, m, prefix, node),
    )
    by_name = {(r.name if isinstance(r, Alert) else r.record): r for r in rules}
    spread = _spread(cfg, prefix)
    placed = [name for _, names in spread for name in names]
    if sorted(placed) != sorted(by_name):
        raise AssertionError(f"GPU rules not in exactly one group: {sorted(set(placed) ^ set(by_name))}")
    cluster = cfg.naming.cluster_label
    variables: tuple[tuple[str, str], ...] = (("cluster", cluster),) if cluster else ()
    variables += (("node", cfg.naming.node_label),)
    return [
        Group(
            name,
            tuple(by_name[rule] for rule in names),
            dashboard_uid=cfg.dashboards.gpu_node_uid,
            dashboard_variables=variables,  # ml-gpu-node opens at one node: the alert's node
        )
        for name, names in spread
    ]


def _spread(cfg: BundleConfig, prefix: str) -> list[tuple[str, tuple[str, ...]]]:
    """The GPU rules in groups of about one GPU-wide read each (docs/scale.md), which Prometheus and vmalert
    evaluate concurrently: every rule reads each GPU's series, so a group's time grows with GPUs, and one
    group of them all took seconds at 1,000 nodes. A rule that reads a record stays in the record's group,
    where it sees this evaluation's value."""
    return [
        (
            GROUP,
            tuple(
                f"{prefix}{name}"
                for name in ("Lost", "XidCritical", "XidApplication", "NvmlDown", "FakeData")
            ),
        ),
        (
            f"{GROUP}-memory-errors",
            tuple(f"{prefix}{n}" for n in ("EccUncorrectable", "RemappedRowsPending", "RemappedRowsFailed")),
        ),
        (f"{GROUP}-thermal", (f"{prefix}TemperatureHigh", f"{prefix}TemperatureCritical")),
        (f"{GROUP}-throttle", (f"{prefix}Throttled",)),
        (f"{GROUP}-memory", (f"{prefix}MemoryNearlyFull",)),
        (f"{GROUP}-busy", (busy_record(cfg),)),
        (f"{GROUP}-efficiency", (f"{prefix}Underutilized",)),
    ]


def _fake_data(cfg: BundleConfig, m: Metrics, prefix: str, node: str) -> Alert:
    """Simulated GPUs in a real Prometheus would skew every capacity and efficiency figure."""
    # The cluster label too (Metrics.by adds it): in a global view two clusters' exporters may share a node
    # name and address.
    keep = m.by("nvidia_gpu_info", *sorted({cfg.naming.job_label, "instance", cfg.naming.node_label}))
    return Alert(
        f"{prefix}FakeData",
        f"group by ({keep}) ({m('nvidia_gpu_info', backend='fake')})",
        "warning",
        "An exporter serves simulated GPU data.",
        f"The exporter {{{{ $labels.instance }}}} on node {node} runs the fake NVML backend; its GPU series "
        "are simulated, not real hardware.",
    )

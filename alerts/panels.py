"""Recording rules for dashboard panels that are too slow on raw series at fleet scale (docs/scale.md).

A panel that computes a quantile from every pod's buckets on every refresh costs its whole range of raw
samples each time; recorded once per evaluation, the same panel reads a few series. Each record keeps the
cluster label (naming.cluster_label) beside the labels the panel shows.
"""

from __future__ import annotations

from alerts.boundary import Boundary
from alerts.model import Group, Record
from alerts.selectors import job_metrics
from bundle.promql import Metrics, Re
from bundle.schema import BundleConfig

GROUP = "mlobs-panel-records"
TARGETS_GROUP = "mlobs-panel-serving-targets"
GPU_GROUP = "mlobs-gpu-panel"
RUNTIME = "tfserving_runtime_duration_seconds"
TARGET_ERRORS = "tfserving_target_errors_total"
ALLOCATION = "nvidia_gpu_allocation_info"


def runtime_p95_record(cfg: BundleConfig) -> str:
    """Per model version and runtime: P95 of the time spent in the model runtime per request."""
    return f"model_version:{RUNTIME}:p95_rate{cfg.serving.rate_window}"


def node_busy_record(cfg: BundleConfig) -> str:
    """Per node and GPU model: the average busy ratio of its GPUs."""
    return f"node:nvidia_gpu_busy:avg_ratio_rate{cfg.gpu.rate_window}"


def namespace_power_record(cfg: BundleConfig) -> str:
    """Per node and namespace: watts of the GPUs allocated to the namespace (each shared GPU whole)."""
    return f"node_namespace:nvidia_gpu_power_watts:sum_rate{cfg.gpu.rate_window}"


def allocated_busy_record(cfg: BundleConfig) -> str:
    """Per GPU a job holds (allocated to a pod with attribution, else holding gpu.allocated_memory_ratio of
    its memory, as the alerts judge it): its busy ratio."""
    return f"gpu:nvidia_gpu_busy_allocated:ratio_rate{cfg.gpu.rate_window}"


def node_throttled_record() -> str:
    """Per node and bad throttle reason (gpu.bad_throttle_reasons): how many of its GPUs are held down."""
    return "node_reason:nvidia_gpu_clock_event_active:sum"


def node_lost_record() -> str:
    """Per node: how many of its GPUs stopped answering NVML (nvidia_gpu_up 0)."""
    return "node:nvidia_gpu_lost:sum"


def node_gpus_record() -> str:
    """Per node and GPU model: how many GPUs it has (nvidia_gpu_info)."""
    return "node_name:nvidia_gpu_info:count"


def node_power_record(cfg: BundleConfig) -> str:
    """Per node: watts of all its GPUs, from their energy counters."""
    return f"node:nvidia_gpu_power_watts:sum_rate{cfg.gpu.rate_window}"


def node_ecc_record(cfg: BundleConfig) -> str:
    """Per node: uncorrectable ECC errors (volatile counters) of its GPUs over gpu.rate_window."""
    return f"node:nvidia_gpu_ecc_errors_uncorrected:sum_increase{cfg.gpu.rate_window}"


def node_remapped_rows_record(kind: str) -> str:
    """Per node: its GPUs with a row remap `kind` (pending: needs a reset; failure: needs service)."""
    return f"node:nvidia_gpu_remapped_rows_{kind}:sum"


REMAPPED_ROWS = ("pending", "failure")


# TF Serving's version states in the order of the codes their record gives them (1: UNKNOWN ... 6: END).
VERSION_STATES = ("UNKNOWN", "START", "LOADING", "AVAILABLE", "UNLOADING", "END")
VERSION_STATE = "tfserving_model_version_state"


def version_state_record() -> str:
    """Per serving pod and model version: its state as a code, 1 + its place in VERSION_STATES."""
    return "pod_version:tfserving_model_version_state:code"


def namespace_read_failures_record(cfg: BundleConfig) -> str:
    """Per namespace and reason: failed reads of TF Serving targets per second, over all its targets."""
    return f"namespace_reason:tfserving_target_errors:rate{cfg.serving.rate_window}"


def failing_target_record(cfg: BundleConfig) -> str:
    """Per target and reason, only where reads failed (above 0): failed reads per second. A fleet has
    thousands of target and reason pairs, nearly all at 0; the panel draws the few that are not."""
    return f"target_reason:tfserving_target_errors:rate{cfg.serving.rate_window}"


def serving_gpu_utilization_record() -> str:
    """Per GPU a TF Serving pod holds (nvidia_gpu_model_info), with the pod and its model: the GPU's
    utilization."""
    return "pod_gpu:nvidia_gpu_utilization:ratio"


def serving_gpu_memory_record() -> str:
    """Per GPU a TF Serving pod holds, with the pod and its model: the share of the GPU's memory in use."""
    return "pod_gpu:nvidia_gpu_memory_used:ratio"


def gpu_groups(cfg: BundleConfig) -> list[Group]:
    """Fleet-wide joins of every GPU with its identity or its holders, which the GPU fleet dashboard (and the
    serving dashboard's GPU row) draws, a group each."""
    n, window = cfg.naming, cfg.gpu.rate_window
    m = job_metrics(cfg, cfg.exporter.gpu_job, n.node_label)
    on_gpu = m.by("nvidia_gpu_info", "uuid")
    rules = [
        (
            "busy",
            Record(
                node_busy_record(cfg),
                f"avg by ({m.by('nvidia_gpu_info', n.node_label, 'name')}) (\n"
                f"rate({m('nvidia_gpu_busy_seconds_total')}[{window}])\n"
                f"* on ({on_gpu}) group_left (name)\n{m('nvidia_gpu_info')}\n)",
            ),
        )
    ]
    throttled = m("nvidia_gpu_clock_event_active", reason=Re.any_of(cfg.gpu.bad_throttle_reasons))
    by_reason = m.by("nvidia_gpu_clock_event_active", n.node_label, "reason")
    rules.append(("throttled", Record(node_throttled_record(), f"sum by ({by_reason}) ({throttled})")))
    by_node = m.by("nvidia_gpu_up", n.node_label)
    rules.append(("lost", Record(node_lost_record(), f"sum by ({by_node}) (1 - {m('nvidia_gpu_up')})")))
    by_name = m.by("nvidia_gpu_info", n.node_label, "name")
    rules.append(("count", Record(node_gpus_record(), f"count by ({by_name}) ({m('nvidia_gpu_info')})")))
    energy = f"rate({m('nvidia_gpu_energy_joules_total')}[{window}])"
    rules.append(("power-node", Record(node_power_record(cfg), f"sum by ({by_node}) ({energy})")))
    ecc = m("nvidia_gpu_ecc_errors_total", error_type="uncorrected", counter="volatile")
    rules.append(
        ("memory-errors", Record(node_ecc_record(cfg), f"sum by ({by_node}) (increase({ecc}[{window}]))"))
    )
    for kind in REMAPPED_ROWS:
        remapped = f"nvidia_gpu_remapped_rows_{kind}"
        rules.append(
            (
                f"remapped-{kind}",
                Record(node_remapped_rows_record(kind), f"sum by ({by_node}) ({m(remapped)})"),
            )
        )
    if cfg.attribution.enabled:
        allocated = f"group by ({m.by(ALLOCATION, 'uuid')}) ({m(ALLOCATION)})"
    else:
        used, total = m("nvidia_gpu_memory_used_bytes"), m("nvidia_gpu_memory_total_bytes")
        allocated = f"{used} / {total} > {cfg.gpu.allocated_memory_ratio:g}"
    busy = f"rate({m('nvidia_gpu_busy_seconds_total')}[{window}])"
    on_allocation = m.by(ALLOCATION, "uuid")
    rules.append(
        ("allocated", Record(allocated_busy_record(cfg), f"{busy}\nand on ({on_allocation})\n({allocated})"))
    )
    if cfg.attribution.enabled:
        holders = f"group by ({m.by(ALLOCATION, n.node_label, 'uuid', 'namespace')}) ({m(ALLOCATION)})"
        power = (
            f"sum by ({m.by(ALLOCATION, n.node_label, 'namespace')}) (\n{holders}\n"
            f"* on ({on_gpu}) group_left ()\nrate({m('nvidia_gpu_energy_joules_total')}[{window}])\n)"
        )
        rules.append(("power", Record(namespace_power_record(cfg), power)))
    # A group per join or per few reads of every GPU's series: groups are evaluated concurrently.
    uid = cfg.dashboards.gpu_fleet_uid
    named: dict[str, list[Record]] = {}
    for name, rule in rules:
        named.setdefault(name, []).append(rule)
    fleet = [Group(f"{GPU_GROUP}-{name}", tuple(group), dashboard_uid=uid) for name, group in named.items()]
    serving = cfg.attribution.enabled and cfg.serving.collect_on_gpu_nodes
    return fleet + (_serving_gpus(cfg, m) if serving else [])


def _serving_gpus(cfg: BundleConfig, m: Metrics) -> list[Group]:
    """The GPUs under the serving pods, which the Model serving dashboard draws: every GPU's series joined
    with the few a serving pod holds took most of a second per panel at 1,000 nodes (docs/scale.md)."""
    n, served = cfg.naming, "nvidia_gpu_model_info"
    labels = m.by(served, "uuid", "gpu", "mig_uuid", n.node_label, "namespace", "pod", "model")
    held = f"group by ({labels}) ({m(served)})"
    on = m.by(served, "uuid")
    # The held GPUs' used bytes first, then divided by their totals: one join of every GPU fewer than
    # dividing every GPU's used bytes by its total first.
    memory = (
        f"{held}\n* on ({on}) group_left ()\n{m('nvidia_gpu_memory_used_bytes')}\n"
        f"/ on ({on}) group_left ()\n{m('nvidia_gpu_memory_total_bytes')}"
    )
    utilization = f"{held}\n* on ({on}) group_left ()\n{m('nvidia_gpu_utilization_ratio')}"
    uid = cfg.dashboards.serving_uid
    records = (
        ("utilization", serving_gpu_utilization_record(), utilization),
        ("memory", serving_gpu_memory_record(), memory),
    )
    return [
        Group(f"{GPU_GROUP}-serving-{name}", (Record(record, expr),), uid) for name, record, expr in records
    ]


def groups(cfg: BundleConfig) -> list[Group]:
    n = cfg.naming
    m = job_metrics(cfg, cfg.serving.job, n.node_label)
    selector = m(RUNTIME)
    buckets = f"{RUNTIME}_bucket{selector[len(RUNTIME) :]}"
    by = m.by(RUNTIME, "namespace", "model", "version", "runtime")
    runtime_p95 = Record(
        runtime_p95_record(cfg),
        f"histogram_quantile(0.95, sum by ({by}, le) (rate({buckets}[{cfg.serving.rate_window}])))",
    )
    uid = cfg.dashboards.serving_uid
    by_version = m.by(VERSION_STATE, "namespace", "model", "version", "pod")
    coded = "\nor\n".join(
        f"{m(VERSION_STATE, state=name)} * {code}" for code, name in enumerate(VERSION_STATES, 1)
    )
    # A state change replaces the series, so each version has one state series; coded, a state timeline
    # draws it. The `or` of every state at every step of the panel took 2.4 s over 6 h at 200 models.
    states = Group(
        f"{GROUP}-version-states",
        (Record(version_state_record(), f"max by ({by_version}) (\n{coded}\n)"),),
        uid,
    )
    return [Group(GROUP, (runtime_p95,), dashboard_uid=uid), states, _targets_group(cfg, m), *gpu_groups(cfg)]


def _targets_group(cfg: BundleConfig, m: Metrics) -> Group:
    """Failed target reads, per namespace and reason and per failing target: every target's 9 reason counters
    read at every step of a panel took over a second at 200 models (docs/scale.md)."""
    failures = f"rate({m(TARGET_ERRORS)}[{cfg.serving.rate_window}])"
    per_namespace = m.by(TARGET_ERRORS, "namespace", "reason")
    per_target = m.by(TARGET_ERRORS, "namespace", "pod", "target", "reason")
    return Group(
        TARGETS_GROUP,
        (
            Record(namespace_read_failures_record(cfg), f"sum by ({per_namespace}) ({failures})"),
            Record(failing_target_record(cfg), f"sum by ({per_target}) ({failures}) > 0"),
        ),
        dashboard_uid=cfg.dashboards.serving_uid,
    )


def boundaries(cfg: BundleConfig) -> list[Boundary]:
    """No alerts here: the records are checked by alerts/rule_tests/panels-test.yaml."""
    return []

"""GPU fleet: every GPU node at once, by node and GPU model: how busy the fleet is, which allocated GPUs sit
idle, where GPUs are lost or failing, and where the energy goes."""

from __future__ import annotations

from typing import Any

from alerts import panels as records
from alerts.gpu import busy_record
from bundle.promql import Re
from bundle.schema import BundleConfig
from dashboards import gpu
from dashboards.scope import Scoped, board, cluster_variables, grouping, selector
from dashboards.style import (
    Query,
    Section,
    increase,
    query_variable,
    ratio_panel,
    stat,
    steps,
    timeseries,
)

STAT_HEIGHT = 4
ALLOCATION = "nvidia_gpu_allocation_info"


class FleetQueries:
    """Fleet-wide expressions over the chosen nodes."""

    def __init__(self, cfg: BundleConfig) -> None:
        self.cfg = cfg
        self.m: Scoped = gpu.metrics(cfg)
        self.node = cfg.naming.node_label
        self.scope: dict[str, str | Re] = {self.node: Re("$node")}

    def __call__(self, name: str, **matchers: str | Re) -> str:
        return self.m(name, **self.scope, **matchers)

    def busy(self) -> str:
        """Each GPU's busy ratio, recorded (alerts/gpu.py): a rate of every GPU's counter at every step cost
        the busy ratio distribution most of a second at 1,000 nodes."""
        return selector(self.cfg, busy_record(self.cfg), **self.scope)

    def allocated_busy(self) -> str:
        """The busy ratio of the GPUs a job holds: allocated to a pod when attribution runs, else holding
        memory (as the alerts judge it). Recorded (alerts/panels.py): the join of every GPU with its
        allocation took seconds per panel on a fleet."""
        return selector(self.cfg, records.allocated_busy_record(self.cfg), **self.scope)

    def training_busy(self) -> str:
        """The busy ratio of allocated GPUs that serve no model (with attribution; else all allocated)."""
        if not self.cfg.attribution.enabled:
            return self.allocated_busy()
        serving = f"group by ({self.m.by('nvidia_gpu_model_info', 'uuid')}) ({self('nvidia_gpu_model_info')})"
        return f"({self.allocated_busy()})\nunless on ({self.m.by(ALLOCATION, 'uuid')})\n{serving}"

    def allocated_idle(self) -> str:
        return f"({self.allocated_busy()}) < {self.cfg.gpu.utilization_target_low:g}"

    def count_by(self, expr: str, *labels: str, of: str = "nvidia_gpu_info") -> str:
        """`expr`'s series counted by `labels`, which the series of `of` must carry."""
        return f"count by ({self.m.by(of, *labels)}) ({expr})"

    def recorded(self, record: str) -> str:
        """A recording rule (alerts/panels.py) on the chosen nodes."""
        return selector(self.cfg, record, **self.scope)

    def not_zero(self, per_node: str) -> str:
        """`per_node` on each node where it is not 0, and a 0 line: a line per node of a fleet, nearly all at
        0, took seconds to draw at 1,000 nodes (docs/scale.md). Not `or on () vector(0)`: VictoriaMetrics
        fills every filtered point of the left side from it, bringing back every node."""
        return f"{per_node} > 0\nor vector(0)"

    def total(self, expr: str, aggregation: str = "count") -> str:
        """A fleet-wide number that shows 0, not "no data", when nothing matches."""
        return f"{aggregation}({expr}) or vector(0)"


def summary(cfg: BundleConfig) -> Section:
    """Four numbers for the fleet; the overview shows the same row."""
    q = FleetQueries(cfg)
    low = cfg.gpu.utilization_target_low
    return Section(
        "Fleet",
        (
            stat(
                "GPUs",
                "GPUs the exporters report on the chosen nodes.",
                "short",
                # Recorded (alerts/panels.py), as are the lost GPUs below: counting every GPU's info series
                # at every step of the range took 1.5 s over 6 h at 1,000 nodes.
                Query(q.total(q.recorded(records.node_gpus_record()), "sum"), "GPUs"),
                width=6,
                height=STAT_HEIGHT,
            ),
            stat(
                "GPUs lost",
                "GPUs that stopped answering NVML (fell off the bus, XID 79): each one pages.",
                "short",
                Query(q.total(q.recorded(records.node_lost_record()), "sum"), "lost"),
                thresholds=steps("green", (1, "red")),
                width=6,
                height=STAT_HEIGHT,
            ),
            stat(
                "Allocated GPUs below target",
                f"GPUs a job holds that were busy less than {low:.0%} (gpu.utilization_target_low) over the "
                "last interval: waste to chase.",
                "short",
                Query(q.total(q.allocated_idle()), "idle"),
                thresholds=steps("green", (1, "orange")),
                width=6,
                height=STAT_HEIGHT,
            ),
            stat(
                "Allocated GPU busy ratio",
                "Average busy share of the GPUs a job holds, against the utilization target band.",
                "percentunit",
                Query(f"avg({q.allocated_busy()})", "busy"),
                thresholds=gpu.band(cfg),
                width=6,
                height=STAT_HEIGHT,
            ),
        ),
    )


def by_node_and_model(cfg: BundleConfig) -> Section:
    q = FleetQueries(cfg)
    node = q.node
    return Section(
        "By node and GPU model",
        (
            timeseries(
                "GPUs by node and model",
                "GPUs per node and GPU model (nvidia_gpu_info).",
                "short",
                # Recorded (alerts/panels.py): every GPU's info series over 6 h took 3 s at 1,000 nodes.
                Query(q.recorded(records.node_gpus_record()), f"{{{{{node}}}}} {{{{name}}}}"),
            ),
            timeseries(
                "Busy ratio distribution",
                "Spread of the busy ratio across the fleet's GPUs: the 10th, 50th and 90th percentile GPU. "
                "A low median with a high 90th percentile means a few busy nodes and many idle ones.",
                "percentunit",
                *(Query(f"quantile({p:g}, {q.busy()})", f"p{round(p * 100)}") for p in (0.1, 0.5, 0.9)),
                thresholds=gpu.band(cfg),
                shade_thresholds=True,
                min=0,
                max=1,
            ),
            ratio_panel(
                "Busy ratio by node and GPU model",
                "Average busy share per node and GPU model, against the target band.",
                # Recorded (alerts/panels.py): joining every GPU with its model took seconds on a fleet.
                Query(
                    selector(cfg, records.node_busy_record(cfg), **q.scope), f"{{{{{node}}}}} {{{{name}}}}"
                ),
                gpu.band(cfg),
            ),
            timeseries(
                "Allocated GPUs below target by node",
                "GPUs held by a job but busy less than the target's low mark, per node (0 on a node whose "
                "allocated GPUs are all busy enough).",
                "short",
                Query(
                    f"{q.count_by(q.allocated_idle(), node)}\nor\n{q.count_by(q.allocated_busy(), node)} * 0",
                    f"{{{{{node}}}}}",
                ),
            ),
        ),
    )


def health(cfg: BundleConfig) -> Section:
    q = FleetQueries(cfg)
    node = q.node
    legend = f"{{{{{node}}}}}"
    panels = [
        timeseries(
            "Lost GPUs by node",
            "GPUs that stopped answering NVML, on each node that has one (and a 0 line).",
            "short",
            # Recorded (alerts/panels.py): every GPU's nvidia_gpu_up at every step took 1.4 s at 1,000 nodes.
            Query(q.not_zero(q.recorded(records.node_lost_record())), legend),
            width=8,
        ),
        timeseries(
            "XID errors by node",
            "XID events per interval by node and XID, where there were any (and a 0 line); critical ones "
            f"({', '.join(map(str, cfg.gpu.critical_xids))}) page.",
            "short",
            Query(
                q.not_zero(
                    f"sum by ({q.m.by('nvidia_gpu_xid_errors_total', node, 'xid')}) "
                    f"({increase(q('nvidia_gpu_xid_errors_total'))})"
                ),
                f"{legend} XID {{{{xid}}}}",
            ),
            width=8,
        ),
        timeseries(
            "Uncorrectable ECC errors and row remaps by node",
            f"Uncorrectable ECC errors over {cfg.gpu.rate_window}, and GPUs with a row remap pending (needs "
            "a reset) or failed (needs service), on each node that has any (where ECC and row remapping "
            "exist), and a 0 line.",
            "short",
            # Recorded (alerts/panels.py): every GPU's ECC counter and remap gauges over 6 h took 1.5-1.9 s
            # per query at 1,000 nodes.
            Query(q.not_zero(q.recorded(records.node_ecc_record(cfg))), f"{legend} ECC"),
            *(
                Query(q.not_zero(q.recorded(records.node_remapped_rows_record(kind))), f"{legend} {what}")
                for kind, what in (("pending", "remap pending"), ("failure", "remap failed"))
            ),
            width=8,
        ),
        timeseries(
            "Throttled GPUs by reason",
            "GPUs whose clocks are held down for a reason that signals a problem (gpu.bad_throttle_reasons), "
            "by reason, on each node where one is (and a 0 line).",
            "short",
            # Recorded (alerts/panels.py): 4 of the 9 reason series of every GPU took seconds at 1,000 nodes.
            Query(
                q.not_zero(q.recorded(records.node_throttled_record())),
                f"{legend} {{{{reason}}}}",
            ),
        ),
        timeseries(
            "Power by node",
            "Average power per node from the GPUs' energy counters (Volta and newer).",
            "watt",
            # Recorded (alerts/panels.py): every GPU's energy counter over 6 h took 3.2 s at 1,000 nodes.
            Query(q.recorded(records.node_power_record(cfg)), legend),
        ),
    ]
    if cfg.attribution.enabled:
        panels.append(
            timeseries(
                "Power by namespace",
                "Average power of the GPUs allocated to each namespace, from their energy counters. A GPU "
                "shared by several namespaces counts whole in each.",
                "watt",
                # Recorded (alerts/panels.py) per node: the join of every GPU with its holders took seconds.
                Query(
                    f"sum by ({grouping(cfg, 'namespace')}) "
                    f"({selector(cfg, records.namespace_power_record(cfg), **q.scope)})",
                    "{{namespace}}",
                ),
                width=24,
            )
        )
    return Section("Health and energy", tuple(panels))


def build(cfg: BundleConfig) -> dict[str, Any]:
    d = cfg.dashboards
    m = gpu.metrics(cfg)
    node = cfg.naming.node_label
    return board(
        cfg,
        uid=d.gpu_fleet_uid,
        title="GPU fleet",
        description="All GPU nodes at once, by node and GPU model: utilization across the fleet, allocated "
        "GPUs left idle, lost and failing GPUs, and energy by node and namespace.",
        variables=[
            *cluster_variables(cfg, m, "nvidia_gpu_info"),
            query_variable("node", "Node", f"label_values({m('nvidia_gpu_info')}, {node})"),
        ],
        sections=[summary(cfg), by_node_and_model(cfg), health(cfg)],
    )

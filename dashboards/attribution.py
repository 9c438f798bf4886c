"""The attribution section of the overview: who holds each GPU, what each pod gets from a shared one, and
which model runs where.

Everything joins on `uuid` against `nvidia_gpu_allocation_info` (one series per GPU or MIG slice and
container).
A GPU-wide value is only shown per pod where one pod holds the GPU whole: on a shared GPU it would be the same
number for every pod (dcgm-exporter's most reported confusion). Shared GPUs get the exporter's per-pod
series instead, which exist with `attribution.per_process` only, so those panels appear only then.
"""

from __future__ import annotations

from bundle.promql import Re
from bundle.schema import BundleConfig
from dashboards.gpu import band, metrics, variables_scope
from dashboards.style import Panel, Query, Section, ratio_panel, value_map

ALLOCATION = "nvidia_gpu_allocation_info"


class _Queries:
    """The allocation-derived expressions the panels share, every label checked against the catalogue."""

    def __init__(self, cfg: BundleConfig) -> None:
        self.m = metrics(cfg)
        self.scope = variables_scope(cfg)
        self.node = cfg.naming.node_label

    def group(self, name: str, *labels: str, **matchers: str | Re) -> str:
        """`name` in the dashboard's scope, grouped by `labels` (value 1 each)."""
        return f"group by ({self.m.by(name, *labels)}) ({self.m(name, **self.scope, **matchers)})"

    def holders(self, *labels: str, **matchers: str | Re) -> str:
        """One series per device and holding pod (containers of one pod and replicas collapse)."""
        return self.group(ALLOCATION, *labels, **matchers)

    def devices_per(self, *owner: str) -> str:
        """Distinct GPUs and MIG slices allocated per `owner` labels."""
        by = self.m.by(ALLOCATION, *owner)
        return f"count by ({by}) ({self.holders(*owner, 'uuid', 'mig_uuid')})"

    def shared_devices(self) -> str:
        """Devices (whole GPUs or MIG slices) allocated to more than one pod."""
        pods = self.holders("uuid", "mig_uuid", "namespace", "pod")
        return f"count by ({self.m.by(ALLOCATION, 'uuid', 'mig_uuid')}) ({pods}) > 1"

    def exclusive_whole_gpus(self) -> str:
        """Whole GPUs held by exactly one pod, labelled with that pod, its GPU index and node."""
        whole = {"mig_uuid": ""}
        held = self.holders("namespace", "pod", "uuid", "gpu", self.node, **whole)
        pods = self.holders("uuid", "namespace", "pod", **whole)
        uuid = self.m.by(ALLOCATION, "uuid")
        return f"{held}\nunless on ({uuid})\n(count by ({uuid}) ({pods}) > 1)"

    def per_pod_on_shared(self, name: str) -> str:
        """A per-pod series restricted to pods (not host processes) on shared devices."""
        on = self.m.by(name, "uuid", "mig_uuid")
        return f"{self.m(name, **self.scope, pod_uid=Re('.+'))}\nand on ({on})\n({self.shared_devices()})"


def section(cfg: BundleConfig) -> Section:
    q = _Queries(cfg)
    per_pod = f"{{{{namespace}}}}/{{{{pod}}}} GPU {{{{gpu}}}} on {{{{{cfg.naming.node_label}}}}}"
    shared_note = (
        "Shared GPUs are left out: their GPU-wide value would repeat for every pod; the per-pod panels show "
        "what each pod really uses."
        if cfg.attribution.per_process
        else "Shared GPUs are left out: their GPU-wide value would repeat for every pod (per-pod use needs "
        "attribution.per_process)."
    )
    exclusive_util = (
        f"(\n{q.exclusive_whole_gpus()}\n)\n* on ({q.m.by(ALLOCATION, 'uuid')}) group_left ()\n"
        f"{q.m('nvidia_gpu_utilization_ratio', **q.scope)}"
    )
    panels: list[Panel] = [
        Panel(
            "timeseries",
            "GPUs per namespace",
            "Whole GPUs and MIG slices the kubelet has allocated to each namespace's containers "
            "(pod-resources). A GPU shared by several namespaces counts in each.",
            "short",
            (Query(q.devices_per("namespace"), "{{namespace}}"),),
        ),
        Panel(
            "timeseries",
            "GPUs per pod",
            "Whole GPUs and MIG slices allocated to each pod; time-sliced replicas of one GPU count once.",
            "short",
            (Query(q.devices_per("namespace", "pod"), "{{namespace}}/{{pod}}"),),
        ),
        ratio_panel(
            "GPU utilization by pod",
            "Utilization of each whole GPU held by a single pod, labelled with that pod (its allocation "
            f"joined on uuid). {shared_note}",
            Query(exclusive_util, per_pod),
            band(cfg),
        ),
        Panel(
            "state-timeline",
            "Models on GPUs",
            "Which model each GPU serves: TF Serving pods found by the exporter's tfserving collector, "
            "joined to their GPU allocations (nvidia_gpu_model_info). Empty unless that collector runs in "
            "the GPU exporter with Kubernetes discovery.",
            "short",
            (
                Query(
                    q.group("nvidia_gpu_model_info", q.node, "gpu", "mig_uuid", "namespace", "pod", "model"),
                    f"{{{{{q.node}}}}} GPU {{{{gpu}}}}: {{{{model}}}} ({{{{namespace}}}}/{{{{pod}}}})",
                ),
            ),
            mappings=value_map({"1": ("serving", "green")}),
        ),
    ]
    if cfg.attribution.per_process:
        panels += [
            Panel(
                "timeseries",
                "GPU memory by pod on shared GPUs",
                "Memory the pod's own processes use on a GPU or MIG slice allocated to several pods "
                "(time-slicing, MPS), from NVML's per-process data. Absent under MIG, where NVML does not "
                "report it.",
                "bytes",
                (Query(q.per_pod_on_shared("nvidia_gpu_pod_memory_used_bytes"), per_pod),),
            ),
            Panel(
                "timeseries",
                "SM utilization by pod on shared GPUs",
                "Share of a shared GPU's SMs busy with each pod's processes in NVML's last sample period "
                "(absent under MIG and while NVML has no new sample).",
                "percentunit",
                (Query(q.per_pod_on_shared("nvidia_gpu_pod_sm_utilization_ratio"), per_pod),),
                min=0,
                max=1,
            ),
        ]
    panels.append(_sources(cfg, q))
    return Section("GPU attribution", tuple(panels))


def _sources(cfg: BundleConfig, q: _Queries) -> Panel:
    node = cfg.naming.node_label
    node_scope = {node: Re("$node")}
    return Panel(
        "state-timeline",
        "Attribution sources",
        "Whether each attribution source answered on each node: podresources (the kubelet socket) always, "
        "proc and kubernetes with per-process attribution. A failing source leaves the GPU series intact; "
        "the exporter's log names the cause and the fix.",
        "short",
        (
            Query(
                q.m("mlobs_attribution_up", **node_scope),
                f"{{{{{node}}}}} {{{{source}}}}",
            ),
        ),
        mappings=value_map({"0": ("failing", "red"), "1": ("ok", "green")}),
        width=24,
    )

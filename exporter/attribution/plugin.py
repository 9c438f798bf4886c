"""The `attribution` plugin: its options, and wiring to the GPU (required) and TF Serving (used) collectors.

Its options are OPTIONS below; docs/exporter-config.md and docs/exporter.example.yaml list them.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from functools import partial
from typing import TYPE_CHECKING, Any

from exporter.attribution.podresources import DEFAULT_RESOURCES, DEFAULT_SOCKET
from exporter.option_values import Values
from exporter.options import Boolean, Duration, Option, Strings, Text
from exporter.plugin import BuildContext

if TYPE_CHECKING:
    from exporter.attribution.collector import AttributionCollector

OPTIONS = (
    Option("pod_resources_socket", Text(rooted=True), DEFAULT_SOCKET, "the kubelet's pod-resources socket"),
    Option(
        "resources", Strings(), DEFAULT_RESOURCES,
        "device resource names or shell patterns to attribute (nvidia.com/gpu.shared: time-slicing replicas)",
        flag="--attribution.resource", metavar="NAME",
    ),
    Option(
        "processes", Boolean(), False,
        "per-pod GPU memory and SM use on shared GPUs, from NVML's processes (needs hostPID)",
    ),
    Option("proc_root", Text(rooted=True), "/proc", "where the host's /proc is visible"),
    Option("timeout", Duration(), 2.0, "limit of each pod-resources call and pod list"),
    Option(
        "kubernetes_api", Boolean(), None, "name pods by UID through the Kubernetes API",
        default_text="on with processes when NODE_NAME is set", example=False,
    ),
    Option(
        "kubeconfig", Text(), "", "kubeconfig file for the API, outside a cluster only",
        flag=None, default_text="in-cluster", example="/root/.kube/config", commented=True,
    ),
)  # fmt: skip


@dataclass(frozen=True)
class AttributionSettings:
    socket_path: str
    resources: tuple[str, ...]
    timeout: float
    processes: bool
    proc_root: str
    kubernetes_api: bool
    kubeconfig: str
    node_name: str


class AttributionPlugin:
    name = "attribution"
    default_enabled = False
    description = "Kubernetes attribution of GPUs to pods, containers and models (kubelet pod-resources)"
    options: tuple[Option, ...] = OPTIONS
    requires: tuple[str, ...] = ("gpu",)  # the GPUs it attributes
    uses: tuple[str, ...] = ("tfserving",)  # models and pod names of the serving pods, when on

    def __init__(self, kube_api_client: Callable[[], Any] | None = None) -> None:
        # The Kubernetes ApiClient factory: tests point it at a fake API server.
        self._kube_api_client = kube_api_client

    def configure(self, values: Values, environ: Mapping[str, str], enabled: bool) -> AttributionSettings:
        resources = values["resources"]
        if not resources:
            values.problem("resources", "needs at least one resource name")
        processes = values["processes"]
        node_name = environ.get("NODE_NAME", "")
        kubernetes_api = values["kubernetes_api"]
        if kubernetes_api is None:
            kubernetes_api = processes and bool(node_name)
        if enabled and kubernetes_api and processes and not node_name:
            values.problem("kubernetes_api", "needs NODE_NAME (set it from the downward API: spec.nodeName)")
        return AttributionSettings(
            socket_path=values["pod_resources_socket"],
            resources=resources,
            timeout=values["timeout"],
            processes=processes,
            proc_root=values["proc_root"],
            kubernetes_api=kubernetes_api and processes,
            kubeconfig=values["kubeconfig"],
            node_name=node_name,
        )

    def build(self, settings: AttributionSettings, ctx: BuildContext) -> AttributionCollector:
        from exporter.attribution.collector import AttributionCollector
        from exporter.attribution.inputs import ServingPodSource, gpu_input, serving_views
        from exporter.attribution.pod_names import NodePodNames
        from exporter.attribution.podresources import PodResourcesClient, ResourceFilter
        from exporter.attribution.proc_cgroups import ProcCgroups
        from exporter.gpu.collector import GpuCollector
        from exporter.kube.pods import PodLister, in_cluster_api_client

        gpu = ctx.built.get("gpu")
        if not isinstance(gpu, GpuCollector):
            raise ValueError("attribution needs the gpu collector, built before it")
        tfserving = ctx.built.get("tfserving")  # optional: only for models and pod names
        serving = tfserving if isinstance(tfserving, ServingPodSource) else None
        if settings.processes:
            gpu.enable_processes()
        names = None
        if settings.kubernetes_api:
            factory = self._kube_api_client or partial(in_cluster_api_client, settings.kubeconfig)
            lister = PodLister(factory, settings.node_name, timeout=settings.timeout)
            names = NodePodNames(lister, clock=ctx.clock)
        return AttributionCollector(
            PodResourcesClient(settings.socket_path, settings.timeout, ResourceFilter(settings.resources)),
            gpu_input=lambda: gpu_input(gpu.last_snapshot()),
            serving_pods=lambda: serving_views(serving),
            proc=ProcCgroups(settings.proc_root) if settings.processes else None,
            names=names,
            log=ctx.log.getChild("attribution"),
        )


ATTRIBUTION_PLUGIN = AttributionPlugin()

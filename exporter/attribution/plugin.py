"""The `attribution` plugin: flags, config section and wiring to the GPU and TF Serving collectors.

```yaml
attribution:
  pod_resources_socket: /var/lib/kubelet/pod-resources/kubelet.sock
  resources: [nvidia.com/gpu, nvidia.com/gpu.shared, "nvidia.com/mig-*"]   # names or shell patterns
  timeout: 2                    # seconds, per pod-resources call and pod list
  processes: false              # per-process attribution: needs hostPID
  proc_root: /proc
  kubernetes_api: true          # name pods by UID through the API; default: on with processes and NODE_NAME
  kubeconfig: ""                # outside a cluster only
```
"""

from __future__ import annotations

import argparse
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from functools import partial
from typing import TYPE_CHECKING, Any

from exporter.attribution.podresources import (
    DEFAULT_RESOURCES,
    DEFAULT_SOCKET,
    PodResourcesClient,
    ResourceFilter,
)
from exporter.gpu.collector import GpuCollector
from exporter.plugin import BuildContext
from exporter.settings import load_config_file
from exporter.validate import Section

if TYPE_CHECKING:
    from exporter.attribution.collector import AttributionCollector


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


def _absolute(section: Section, key: str, flag: str, value: str | None, default: str) -> str:
    path = section.string(key, default) or default  # read even when a flag wins: a known key, checked
    path = value or path
    if not path.startswith("/"):
        section.problems.append(f"{flag}: {path!r} must be an absolute path")
    return path


def _timeout(section: Section, raw: str | None) -> float:
    timeout = section.number("timeout", 2.0, positive=True)
    if raw is None:
        return timeout
    try:
        timeout = float(raw)
        if not 0 < timeout < float("inf"):
            raise ValueError
    except ValueError:
        section.problems.append(f"--attribution.timeout: {raw!r} is not a positive number of seconds")
        return 2.0
    return timeout


def _gpu_disabled(args: argparse.Namespace) -> bool:
    """Whether the flags or the config file turn the gpu collector off (it is on by default)."""
    flag = getattr(args, "collector_gpu", None)
    if flag is not None:
        return not flag
    data = load_config_file(args.config_file, [])  # its problems are reported by the settings themselves
    collectors = data.get("collectors") if isinstance(data, Mapping) else None
    return isinstance(collectors, Mapping) and collectors.get("gpu") is False


class AttributionPlugin:
    name = "attribution"
    default_enabled = False
    description = "Kubernetes attribution of GPUs to pods, containers and models (kubelet pod-resources)"

    def __init__(self, kube_api_client: Callable[[], Any] | None = None) -> None:
        # The Kubernetes ApiClient factory: tests point it at a fake API server.
        self._kube_api_client = kube_api_client

    def add_flags(self, parser: argparse.ArgumentParser) -> None:
        group = parser.add_argument_group("attribution")
        flag = group.add_argument
        flag(
            "--attribution.pod-resources-socket",
            dest="attribution_socket",
            default=None,
            metavar="PATH",
            help=f"the kubelet's pod-resources socket (default {DEFAULT_SOCKET})",
        )
        flag(
            "--attribution.resource",
            dest="attribution_resources",
            action="append",
            default=None,
            metavar="NAME",
            help="device resource name or shell pattern to attribute (repeatable; default "
            f"{' and '.join(DEFAULT_RESOURCES)})",
        )
        flag(
            "--attribution.processes",
            dest="attribution_processes",
            action=argparse.BooleanOptionalAction,
            default=None,
            help="per-pod GPU memory and SM use from NVML's processes (needs hostPID; default off)",
        )
        flag(
            "--attribution.proc-root",
            dest="attribution_proc_root",
            default=None,
            metavar="PATH",
            help="where the host's /proc is visible (default /proc)",
        )
        flag(
            "--attribution.timeout",
            dest="attribution_timeout",
            default=None,
            metavar="SECONDS",
            help="limit of each pod-resources call and pod list (default 2)",
        )
        flag(
            "--attribution.kubernetes-api",
            dest="attribution_kubernetes_api",
            action=argparse.BooleanOptionalAction,
            default=None,
            help="name pods by UID through the Kubernetes API (default: on with --attribution.processes "
            "when NODE_NAME is set)",
        )

    def configure(
        self, args: argparse.Namespace, section: Section, environ: Mapping[str, str], enabled: bool
    ) -> AttributionSettings:
        socket_path = _absolute(
            section,
            "pod_resources_socket",
            "--attribution.pod-resources-socket",
            args.attribution_socket,
            DEFAULT_SOCKET,
        )
        resources = section.strings("resources", DEFAULT_RESOURCES)
        if args.attribution_resources is not None:
            resources = tuple(args.attribution_resources)
        if not resources or not all(resources):
            section.problems.append("--attribution.resource: needs at least one non-empty resource name")
        processes = section.boolean("processes", False)
        if args.attribution_processes is not None:
            processes = args.attribution_processes
        proc_root = _absolute(
            section, "proc_root", "--attribution.proc-root", args.attribution_proc_root, "/proc"
        )
        node_name = environ.get("NODE_NAME", "")
        kubernetes_api = section.boolean("kubernetes_api", processes and bool(node_name))
        if args.attribution_kubernetes_api is not None:
            kubernetes_api = args.attribution_kubernetes_api
        settings = AttributionSettings(
            socket_path=socket_path,
            resources=resources,
            timeout=_timeout(section, args.attribution_timeout),
            processes=processes,
            proc_root=proc_root,
            kubernetes_api=kubernetes_api and processes,
            kubeconfig=section.string("kubeconfig", "") or "",
            node_name=node_name,
        )
        if enabled and kubernetes_api and processes and not node_name:
            section.problems.append(
                "--attribution.kubernetes-api: needs NODE_NAME (set it from the downward API: spec.nodeName)"
            )
        if enabled and _gpu_disabled(args):
            section.problems.append("--collector.attribution: needs the gpu collector, which is turned off")
        return settings

    def build(self, settings: AttributionSettings, ctx: BuildContext) -> AttributionCollector:
        # Imported here: a start without attribution does not pay for the join and its inputs.
        from exporter.attribution.collector import AttributionCollector
        from exporter.attribution.inputs import ServingPodSource, gpu_input, serving_views
        from exporter.attribution.pod_names import NodePodNames
        from exporter.attribution.proc_cgroups import ProcCgroups
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

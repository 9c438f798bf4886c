"""Alertmanager routing from the bundle config: who is told, grouped how, and which causes silence symptoms.

Severity decides the receiver (critical pages, warning opens a ticket, info goes nowhere unless an info
webhook is set); groups are per alert and per model or node (and cluster), so one broken node or model is one
notification. Inhibitions let the cause speak alone:

| source (cause) | silences | equal on |
|---|---|---|
| <P>GpuLost | every other <P>Gpu* alert of that GPU | node, uuid, gpu |
| <P>RegistryUnreachable | model monitoring stale/missing, registry snapshot stale/alias/burn | - |
| <P>ExporterTargetsDown, <P>ExporterAbsent | collector-derived alerts of that job | job |
| <P>ServingTargetDown | that target's other <P>Serving* alerts | target |

(<P> is naming.alert_prefix; naming.cluster_label joins every `equal` and `group_by` when set.)
One model (`routing`) feeds both renderings: alertmanager.yaml and the operator's AlertmanagerConfig.
"""

from __future__ import annotations

from dataclasses import dataclass

from bundle.schema import BundleConfig
from bundle.sections import Alertmanager

NULL_RECEIVER = "null"
PAGER, TICKET, INFO = "pager", "ticket", "info"


@dataclass(frozen=True)
class Matcher:
    name: str
    op: str  # =, !=, =~, !~
    value: str

    def text(self) -> str:
        escaped = self.value.replace("\\", "\\\\").replace('"', '\\"')
        return f'{self.name}{self.op}"{escaped}"'


@dataclass(frozen=True)
class Route:
    receiver: str
    matchers: tuple[Matcher, ...]
    repeat_interval: str


@dataclass(frozen=True)
class Inhibition:
    source: tuple[Matcher, ...]
    target: tuple[Matcher, ...]
    equal: tuple[str, ...]


@dataclass(frozen=True)
class Routing:
    group_by: tuple[str, ...]
    group_wait: str
    group_interval: str
    repeat_interval: str
    routes: tuple[Route, ...]
    receivers: dict[str, str]  # name -> webhook URL ("" for the null receiver)
    inhibitions: tuple[Inhibition, ...]


def _names(*names: str) -> Matcher:
    return (
        Matcher("alertname", "=~", "|".join(names)) if len(names) > 1 else Matcher("alertname", "=", names[0])
    )


def inhibitions(cfg: BundleConfig) -> tuple[Inhibition, ...]:
    p, n = cfg.naming.alert_prefix, cfg.naming
    cluster = (n.cluster_label,) if n.cluster_label else ()
    # Alerts computed from the exporter's own collector series: blind, not broken, when the targets are down.
    collector_derived = (
        f"{p}ExporterCollectorFailing",
        f"{p}ServingDiscoveryFailing",
        f"{p}GpuNvmlDown",
        f"{p}GpuCollectorFailing",
    )
    registry_symptoms = (
        f"{p}ModelMonitoringStale",
        f"{p}ModelMonitoringMissing",
        f"{p}RegistrySnapshotStale",
        f"{p}RegistryAliasNotReady",
        f"{p}RegistryBurn.*",
    )
    return (
        Inhibition(
            (_names(f"{p}GpuLost"),),
            (Matcher("alertname", "=~", f"{p}Gpu.+"), Matcher("alertname", "!=", f"{p}GpuLost")),
            (*cluster, n.node_label, "uuid", "gpu"),
        ),
        # A lost GPU fails the GPU collector on its node, and an unreachable registry the MLflow collector:
        # the collector warning says nothing the cause does not.
        Inhibition(
            (_names(f"{p}GpuLost"),),
            (_names(f"{p}ExporterCollectorFailing"), Matcher("collector", "=", "gpu")),
            (*cluster, n.node_label),
        ),
        Inhibition((_names(f"{p}RegistryUnreachable"),), (_names(*registry_symptoms),), cluster),
        Inhibition(
            (_names(f"{p}RegistryUnreachable"),),
            (_names(f"{p}ExporterCollectorFailing"), Matcher("collector", "=", "mlflow")),
            cluster,
        ),
        Inhibition(
            (_names(f"{p}ExporterTargetsDown", f"{p}ExporterAbsent"),),
            (_names(*collector_derived),),
            (*cluster, n.job_label),
        ),
        Inhibition(
            (_names(f"{p}ServingTargetDown"),),
            (
                Matcher("alertname", "=~", f"{p}Serving.+"),
                Matcher("alertname", "!=", f"{p}ServingTargetDown"),
            ),
            (*cluster, "target"),
        ),
    )


def routing(cfg: BundleConfig, am: Alertmanager) -> Routing:
    n = cfg.naming
    cluster = (n.cluster_label,) if n.cluster_label else ()
    routes = [
        Route(PAGER, (Matcher("severity", "=", "critical"),), am.pager_repeat_interval),
        Route(TICKET, (Matcher("severity", "=", "warning"),), am.ticket_repeat_interval),
    ]
    receivers = {NULL_RECEIVER: "", PAGER: am.pager_url, TICKET: am.ticket_url}
    if am.info_url:
        routes.append(Route(INFO, (Matcher("severity", "=", "info"),), am.ticket_repeat_interval))
        receivers[INFO] = am.info_url
    return Routing(
        group_by=(*cluster, "alertname", "model", n.node_label),
        group_wait=am.group_wait,
        group_interval=am.group_interval,
        repeat_interval=am.ticket_repeat_interval,
        routes=tuple(routes),
        receivers=receivers,
        inhibitions=inhibitions(cfg),
    )


def receiver(name: str, url: str, *, camel: bool = False) -> dict[str, object]:
    """A webhook receiver, told of resolved alerts too (`camel`: AlertmanagerConfig keys)."""
    if not url:
        return {"name": name}
    webhooks, resolved = ("webhookConfigs", "sendResolved") if camel else ("webhook_configs", "send_resolved")
    return {"name": name, webhooks: [{"url": url, resolved: True}]}


def config(cfg: BundleConfig, am: Alertmanager) -> dict[str, object]:
    """The plain Alertmanager 0.25 configuration file."""
    r = routing(cfg, am)
    return {
        "route": {
            "receiver": NULL_RECEIVER,
            "group_by": list(r.group_by),
            "group_wait": r.group_wait,
            "group_interval": r.group_interval,
            "repeat_interval": r.repeat_interval,
            "routes": [
                {
                    "receiver": route.receiver,
                    "matchers": [m.text() for m in route.matchers],
                    "repeat_interval": route.repeat_interval,
                }
                for route in r.routes
            ],
        },
        "inhibit_rules": [
            {
                "source_matchers": [m.text() for m in i.source],
                "target_matchers": [m.text() for m in i.target],
                **({"equal": list(i.equal)} if i.equal else {}),
            }
            for i in r.inhibitions
        ],
        "receivers": [receiver(name, url) for name, url in r.receivers.items()],
    }

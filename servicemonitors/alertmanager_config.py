"""The same routing as prometheus-operator's AlertmanagerConfig (monitoring.coreos.com/v1alpha1, camelCase).

The operator merges it into the Alertmanager it manages and adds a `namespace` matcher to its top route: only
alerts from rules in this namespace (the bundle's PrometheusRule) reach it. The Alertmanager resource must
select it by the labels in naming.selector_labels (`alertmanagerConfigSelector`).
"""

from __future__ import annotations

from typing import Any

from bundle.kube import metadata
from bundle.schema import BundleConfig
from bundle.sections import Alertmanager
from servicemonitors.alertmanager import NULL_RECEIVER, Matcher, receiver, routing

NAME = "mlobs"


def _matchers(matchers: tuple[Matcher, ...]) -> list[dict[str, str]]:
    return [{"name": m.name, "value": m.value, "matchType": m.op} for m in matchers]


def alertmanager_config(cfg: BundleConfig, am: Alertmanager) -> dict[str, Any]:
    r = routing(cfg, am)
    return {
        "apiVersion": "monitoring.coreos.com/v1alpha1",
        "kind": "AlertmanagerConfig",
        "metadata": metadata(cfg, NAME, "alerting", selected=True),
        "spec": {
            "route": {
                "receiver": NULL_RECEIVER,
                "groupBy": list(r.group_by),
                "groupWait": r.group_wait,
                "groupInterval": r.group_interval,
                "repeatInterval": r.repeat_interval,
                "routes": [
                    {
                        "receiver": route.receiver,
                        "matchers": _matchers(route.matchers),
                        "repeatInterval": route.repeat_interval,
                    }
                    for route in r.routes
                ],
            },
            "inhibitRules": [
                {
                    "sourceMatch": _matchers(i.source),
                    "targetMatch": _matchers(i.target),
                    **({"equal": list(i.equal)} if i.equal else {}),
                }
                for i in r.inhibitions
            ],
            "receivers": [receiver(name, url, camel=True) for name, url in r.receivers.items()],
        },
    }

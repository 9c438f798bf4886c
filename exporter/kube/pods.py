"""List the pods on this node through the Kubernetes API, as plain data.

Uses the official `kubernetes` client, imported only here and only when discovery is enabled, so the exporter
starts without it. The caller passes a factory for the `ApiClient` (tests point it at a fake API server);
`in_cluster_api_client` is the production one (the pod's service account, or a kubeconfig file).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any


class DiscoveryError(Exception):
    """The pod listing failed; the message is one line for the log."""


@dataclass(frozen=True)
class Pod:
    namespace: str
    name: str
    uid: str
    node: str
    ip: str
    phase: str
    # Container port numbers by port name, over all containers.
    ports: Mapping[str, int] = field(default_factory=dict)
    annotations: Mapping[str, str] = field(default_factory=dict)


def in_cluster_api_client(kubeconfig: str = "") -> Any:
    """An ApiClient from a kubeconfig file when given, else from the pod's service account."""
    from kubernetes import client, config

    if kubeconfig:
        return config.new_client_from_config(config_file=kubeconfig)
    config.load_incluster_config()
    return client.ApiClient()


class PodLister:
    """Lists pods with a field selector on the node (the API server filters, as kubelet-local tools do)."""

    def __init__(
        self,
        api_client_factory: Callable[[], Any],
        node_name: str,
        label_selector: str = "",
        namespace: str = "",
        timeout: float = 5.0,
    ) -> None:
        self._factory = api_client_factory
        self._api: Any = None
        self.node_name = node_name
        self.label_selector = label_selector
        self.namespace = namespace
        self.timeout = timeout

    def list_pods(self) -> list[Pod]:
        from kubernetes.client import CoreV1Api
        from kubernetes.client.exceptions import ApiException

        try:
            if self._api is None:
                self._api = CoreV1Api(self._factory())
            kwargs: dict[str, Any] = {
                "field_selector": f"spec.nodeName={self.node_name}",
                "label_selector": self.label_selector,
                "_request_timeout": self.timeout,
            }
            if self.namespace:
                result = self._api.list_namespaced_pod(self.namespace, **kwargs)
            else:
                result = self._api.list_pod_for_all_namespaces(**kwargs)
        except ApiException as exc:
            raise DiscoveryError(f"listing pods: HTTP {exc.status} {exc.reason}") from None
        except (
            Exception
        ) as exc:  # connection, TLS and config errors come in many types; all mean "no listing"
            raise DiscoveryError(f"listing pods: {type(exc).__name__}: {str(exc)[:160]}") from None
        return [_pod(item) for item in result.items or ()]

    def close(self) -> None:
        if self._api is not None:
            self._api.api_client.close()


def _pod(item: Any) -> Pod:
    meta, spec, status = item.metadata, item.spec, item.status
    ports: dict[str, int] = {}
    for container in (spec.containers if spec else None) or ():
        for port in container.ports or ():
            if port.name and port.name not in ports:
                ports[port.name] = int(port.container_port)
    return Pod(
        namespace=meta.namespace or "",
        name=meta.name or "",
        uid=meta.uid or "",
        node=(spec.node_name if spec else "") or "",
        ip=(status.pod_ip if status else "") or "",
        phase=(status.phase if status else "") or "",
        ports=ports,
        annotations=dict(meta.annotations or {}),
    )

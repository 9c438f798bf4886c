"""TF Serving targets from the Kubernetes pods on this node, re-listed at most every refresh interval."""

from __future__ import annotations

import logging
import re
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from exporter.kube.pods import DiscoveryError, Pod, PodLister
from exporter.textsafe import safe_message
from exporter.tfserving.targets import DEFAULT_METRICS_PATH, Target

MODEL_NAME = re.compile(r"^[^/:\s]{1,200}$")
_SEPARATORS = re.compile(r"[\s,]+")


@dataclass(frozen=True)
class KubernetesSettings:
    enabled: bool = False
    label_selector: str = ""
    port_name: str = "http"
    models_annotation: str = "mlobs.io/tfserving-models"
    namespace: str = ""
    scheme: str = "http"
    metrics_path: str = DEFAULT_METRICS_PATH
    timeout: float = 2.0
    refresh_interval: float = 30.0
    kubeconfig: str = ""


def annotation_models(value: str) -> tuple[str, ...]:
    """`"bert, resnet"` -> ("bert", "resnet"); names TF Serving could not serve are dropped."""
    return tuple(name for name in _SEPARATORS.split(value) if MODEL_NAME.match(name))


def pod_target(pod: Pod, settings: KubernetesSettings) -> Target | None:
    """The REST endpoint of a running pod with the named port, or None."""
    port = pod.ports.get(settings.port_name)
    if pod.phase != "Running" or not pod.ip or port is None:
        return None
    host = f"[{pod.ip}]" if ":" in pod.ip else pod.ip
    return Target(
        url=f"{settings.scheme}://{host}:{port}",
        models=annotation_models(pod.annotations.get(settings.models_annotation, "")),
        metrics_path=settings.metrics_path,
        timeout=settings.timeout,
        namespace=pod.namespace,
        pod=pod.name,
        pod_uid=pod.uid,
        node=pod.node,
    )


class PodTargets:
    """Caches the listing: pods change rarely, and a listing per scrape per node would load the API server."""

    def __init__(
        self,
        lister: PodLister,
        settings: KubernetesSettings,
        clock: Callable[[], float] = time.monotonic,
        log: logging.Logger | None = None,
    ) -> None:
        self.lister = lister
        self.settings = settings
        self._clock = clock
        self._log = log or logging.getLogger("exporter.tfserving")
        self._lock = threading.Lock()
        self._targets: list[Target] = []
        self._listed_at: float | None = None
        self.success = False

    def targets(self) -> list[Target]:
        """The current targets; lists again when the cache is older than the refresh interval."""
        with self._lock:
            now = self._clock()
            if self._listed_at is None or now - self._listed_at >= self.settings.refresh_interval:
                self._listed_at = now
                self._refresh()
            return list(self._targets)

    def _refresh(self) -> None:
        try:
            pods = self.lister.list_pods()
        except DiscoveryError as exc:
            self._log.warning(
                "tfserving kubernetes discovery failed, keeping the last listing: %s", safe_message(exc)
            )
            self.success = False
            return
        self.success = True
        targets = []
        for pod in pods:
            target = pod_target(pod, self.settings)
            if target is None:
                self._log.debug(
                    "pod %s/%s: not running, no IP or no port %r",
                    pod.namespace,
                    pod.name,
                    self.settings.port_name,
                )
            else:
                targets.append(target)
        self._targets = targets

    def close(self) -> None:
        self.lister.close()

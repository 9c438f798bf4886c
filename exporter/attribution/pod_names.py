"""Pod UID -> (namespace, pod) for this node's pods, from the Kubernetes API.

Pod-resources names pods but carries no UIDs, while cgroups carry UIDs but no names: this bridges the two
with the node's pod list (`exporter.kube.pods.PodLister`), cached, because listing pods costs the
API server far more than a scrape should.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Protocol


@dataclass(frozen=True)
class PodName:
    namespace: str
    pod: str


class _ListedPod(Protocol):
    @property
    def namespace(self) -> str: ...

    @property
    def name(self) -> str: ...

    @property
    def uid(self) -> str: ...


class PodList(Protocol):
    def list_pods(self) -> Sequence[_ListedPod]: ...

    def close(self) -> None: ...


class NodePodNames:
    """Caches the node's pods by UID; lists again only for an unknown UID, at most once per `min_interval`
    (a failed list waits as long before the next try)."""

    def __init__(
        self, lister: PodList, min_interval: float = 30.0, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self._lister = lister
        self.min_interval = min_interval
        self._clock = clock
        self._names: dict[str, PodName] = {}
        self._listed_at: float | None = None
        # The last list's failure, kept until a list succeeds; "" while the cache is good.
        self.error = ""

    def names(self, uids: Iterable[str]) -> dict[str, PodName]:
        """Names for the UIDs this node knows; a failed list keeps the old cache and sets `error`."""
        wanted = set(uids)
        due = self._listed_at is None or self._clock() - self._listed_at >= self.min_interval
        # A failed list is retried even when nothing is missing, so `error` does not outlive the outage.
        if (wanted - self._names.keys() or self.error) and due:
            self._listed_at = self._clock()
            try:
                pods = self._lister.list_pods()
            # DiscoveryError, or whatever the client let through: a name lookup never fails a scrape.
            except Exception as exc:
                self.error = str(exc) or type(exc).__name__
            else:
                self._names = {pod.uid: PodName(pod.namespace, pod.name) for pod in pods if pod.uid}
                self.error = ""
        return {uid: self._names[uid] for uid in wanted if uid in self._names}

    def close(self) -> None:
        self._lister.close()

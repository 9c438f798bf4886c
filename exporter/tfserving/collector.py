"""The TF Serving collector: reads every target concurrently on each scrape, each within its own timeout.

Per target, one pool worker reads the metrics page and then the status of every model, known or revealed
by that page, in turn over one kept-alive connection: a request per worker at a time costs far less CPU
than as many threads as requests contending for the interpreter, and a status read costs a fraction of a
millisecond. Revealed models are remembered for the next scrape. What a target answered by its deadline
is kept; a target that fails shows up as `tfserving_target_scrape_success 0` and in
`tfserving_target_errors_total`; the other targets' data is exported as usual.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import TypeVar

from exporter.catalogue.families import FamilySet
from exporter.collector import Health
from exporter.textsafe import safe_message
from exporter.tfserving import catalogue as m
from exporter.tfserving.catalogue import VERSION_MEMORY_SECONDS
from exporter.tfserving.discovery import PodTargets
from exporter.tfserving.families import TargetResult, add_result, add_target_health
from exporter.tfserving.page_data import REQUEST_COUNT, ServingPage
from exporter.tfserving.source import FetchError, ModelStatus, TFServingClient
from exporter.tfserving.targets import Target

T = TypeVar("T")
TargetKey = tuple[str, str, str]


@dataclass(frozen=True)
class ServingPod:
    """A TF Serving pod found by discovery at the last scrape, for joining GPU usage to models."""

    namespace: str
    pod: str
    pod_uid: str
    node: str
    models: tuple[str, ...]


class _TargetRead:
    """One target's reads in one scrape, made by one worker; the collector takes what is in by the deadline.

    Once taken, the result is the collector's: a worker still busy (each of its requests ends soon after the
    deadline) can no longer change it.
    """

    def __init__(self, target: Target, started: float) -> None:
        self.started = started
        self.deadline = started + target.timeout
        self.finished = threading.Event()
        self._result = TargetResult(target)
        self._lock = threading.Lock()
        self._taken = False

    def keep(self, page: ServingPage | None = None, status: ModelStatus | None = None) -> None:
        with self._lock:
            if self._taken:
                return
            if page is not None:
                self._result.page = page
            if status is not None:
                self._result.statuses[status.model] = status
                if not status.found and status.model in self._result.target.models:
                    self._result.errors.append(
                        FetchError("model_not_found", f"model {status.model}: unknown to the server")
                    )

    @property
    def taken(self) -> bool:
        return self._taken

    def fail(self, error: FetchError) -> None:
        with self._lock:
            if not self._taken:
                self._result.errors.append(error)

    def take(self, clock: Callable[[], float]) -> TargetResult:
        finished = self.finished.wait(max(0.0, self.deadline - clock()))
        with self._lock:
            self._taken = True
            result = self._result
        if not finished:
            timeout = result.target.timeout
            result.errors.append(FetchError("timeout", f"no answer within {timeout:g}s"))
        result.duration = clock() - self.started
        return result


def _key(target: Target) -> TargetKey:
    return (target.url, target.namespace, target.pod)


class TFServingCollector:
    name = "tfserving"

    def __init__(
        self,
        client: TFServingClient,
        targets: Sequence[Target],
        discovery: PodTargets | None = None,
        max_models: int = 100,
        workers: int = 32,
        clock: Callable[[], float] = time.monotonic,
        wall_clock: Callable[[], float] = time.time,
        log: logging.Logger | None = None,
    ) -> None:
        self.client = client
        self.static_targets = list(targets)
        self.discovery = discovery
        self.max_models = max_models
        self._clock = clock
        self._wall_clock = wall_clock
        self._log = log or logging.getLogger("exporter.tfserving")
        self._pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="tfserving")
        self._lock = threading.Lock()
        # State kept between scrapes, per target: models revealed by its page, error and dropped-line counts,
        # last success, and each model's last single AVAILABLE version with when it was read.
        self._revealed: dict[TargetKey, set[str]] = {}
        self._errors: dict[TargetKey, dict[str, int]] = {}
        self._dropped: dict[TargetKey, dict[str, int]] = {}
        self._last_success: dict[TargetKey, float] = {}
        self._versions: dict[TargetKey, dict[str, tuple[str, float]]] = {}
        self._reasons: dict[TargetKey, frozenset[str]] = {}  # why it failed at the last scrape
        self._pods: tuple[ServingPod, ...] = ()
        self._failing: tuple[str, ...] = ()

    def collect(self, out: FamilySet) -> bool:
        targets = list(self.static_targets)
        if self.discovery is not None:
            targets.extend(self.discovery.targets())
            out.add(m.DISCOVERY_SUCCESS, 1 if self.discovery.success else 0)
            out.add(m.DISCOVERED_TARGETS, len(targets) - len(self.static_targets))
        started = self._clock()
        reads = [_TargetRead(target, started) for target in targets]
        for read, target in zip(reads, targets, strict=True):
            self._pool.submit(self._read, read, target, self._remembered(target))
        results = []
        for read in reads:
            results.append(read.take(self._clock))
            # Built while the other targets are still being read.
            add_result(out, results[-1], self._allowed(results[-1]), self._serving_versions(results[-1]))
        self._record(results)
        for result in results:
            key = _key(result.target)
            errors, dropped = self._errors.get(key, {}), self._dropped.get(key, {})
            add_target_health(out, result, self._last_success.get(key), errors, dropped)
        discovery_ok = self.discovery is None or self.discovery.success
        return discovery_ok and all(result.success for result in results)

    def _remembered(self, target: Target) -> set[str]:
        """Models earlier pages of this target revealed."""
        with self._lock:
            return set(self._revealed.get(_key(target), ()))

    def _read(self, read: _TargetRead, target: Target, remembered: set[str]) -> None:
        """The page first, as it may reveal models; then each model's status, within the deadline."""
        try:
            page = self._call(read, target, self.client.metrics_page, target, read.deadline)
            read.keep(page=page)
            problem = page.problem(bool(target.models)) if page is not None else None
            if problem is not None:
                read.fail(FetchError(*problem))
            revealed = page.model_names() if page is not None else set()
            for model in _capped(target.models, remembered | revealed, self.max_models):
                if read.taken:  # the scrape went on without this target: spare the server the rest
                    break
                status = self._call(read, target, self.client.model_status, target, model, read.deadline)
                read.keep(status=status)
        finally:
            read.finished.set()

    def _call(self, read: _TargetRead, target: Target, method: Callable[..., T], *args: object) -> T | None:
        try:
            return method(*args)
        except FetchError as exc:
            read.fail(exc)
        except Exception as exc:  # a bug or an unforeseen reply must fail this target only, not the others
            self._log.warning(
                "tfserving target %s: unexpected %s: %s", target.url, type(exc).__name__, safe_message(exc)
            )
            read.fail(FetchError("invalid_body", f"unexpected {type(exc).__name__}"))
        return None

    def _allowed(self, result: TargetResult) -> set[str]:
        """The models whose series are exported: known ones first, then any the page names, up to the cap."""
        others: set[str] = set()
        if result.page is not None:
            others = {s.labels.get("model_name", "") for s in result.page.scalar(REQUEST_COUNT)}
        known = _capped(result.target.models, result.models(), self.max_models)
        return set(_capped(known, others - {""}, self.max_models))

    def _record(self, results: list[TargetResult]) -> None:
        now = self._wall_clock()
        changes: list[tuple[TargetResult, frozenset[str]]] = []
        with self._lock:
            current = {_key(result.target) for result in results}
            for state in (
                self._revealed,
                self._errors,
                self._dropped,
                self._last_success,
                self._versions,
                self._reasons,
            ):
                for gone in set(state) - current:  # a deleted pod must not leave its series behind
                    del state[gone]
            for result in results:
                key = _key(result.target)
                if result.page is not None:
                    self._revealed.setdefault(key, set()).update(result.page.model_names())
                    dropped = self._dropped.setdefault(key, {})
                    for reason, lines in result.page.dropped.items():
                        dropped[reason] = dropped.get(reason, 0) + lines
                if result.success:
                    self._last_success[key] = now
                counts = self._errors.setdefault(key, {})
                for reason in {error.reason for error in result.errors}:
                    counts[reason] = counts.get(reason, 0) + 1
                reasons = frozenset(error.reason for error in result.errors)
                if reasons != self._reasons.get(key, frozenset()):
                    changes.append((result, reasons))
                self._reasons[key] = reasons
            self._failing = tuple(r.target.url for r in results if not r.success)
            self._pods = tuple(
                ServingPod(
                    r.target.namespace,
                    r.target.pod,
                    r.target.pod_uid,
                    r.target.node,
                    tuple(sorted(r.models())),
                )
                for r in results
                if r.target.pod
            )
        self._log_changes(changes)

    def _log_changes(self, changes: list[tuple[TargetResult, frozenset[str]]]) -> None:
        """One line when a target starts failing, fails for other reasons, or recovers: not every scrape."""
        for result, reasons in changes:
            if not reasons:
                self._log.info("tfserving target %s: recovered", result.target.url)
                continue
            details = safe_message("; ".join(f"{error.reason}: {error}" for error in result.errors), 300)
            self._log.warning("tfserving target %s: failing: %s", result.target.url, details)

    def _serving_versions(self, result: TargetResult) -> dict[str, str]:
        """The `version` label of each model's traffic: its one AVAILABLE version as read now ("" while
        it has none or several); while its status cannot be read, the one read last, for a bounded time,
        so that one failed call does not change the series' labels."""
        now = self._clock()
        versions: dict[str, str] = {}
        with self._lock:
            known = self._versions.setdefault(_key(result.target), {})
            for model, status in result.statuses.items():
                available = status.available()
                versions[model] = available[0] if len(available) == 1 else ""
                if versions[model]:
                    known[model] = (versions[model], now)
                else:
                    known.pop(model, None)
            for model, (version, read_at) in list(known.items()):
                if model in versions:
                    continue
                if now - read_at <= VERSION_MEMORY_SECONDS:
                    versions[model] = version
                else:
                    del known[model]
        return versions

    def serving_pods(self) -> tuple[ServingPod, ...]:
        """Pods found by Kubernetes discovery at the last scrape, with the models each serves."""
        with self._lock:
            return self._pods

    def health(self) -> Health:
        # A failing TF Serving is data (tfserving_target_scrape_success), not a reason to restart us.
        with self._lock:
            failing = self._failing
        return Health(True, f"targets failing at the last scrape: {', '.join(failing)}" if failing else "")

    def close(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)
        self.client.close()
        if self.discovery is not None:
            self.discovery.close()


def _capped(first: Sequence[str], more: set[str], limit: int) -> list[str]:
    """`first` in order, then `more` sorted, without repeats, at most `limit` names."""
    names = list(dict.fromkeys(first))
    names.extend(sorted(more - set(names)))
    return names[:limit]

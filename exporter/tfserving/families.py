"""Turn one TF Serving target's page and model statuses into catalogue families (no I/O).

Sample output for a target serving `bert` with one AVAILABLE version:

    tfserving_requests_total{target="http://10.0.0.5:8501",namespace="ml",pod="tfs-0",model="bert",
        version="17",status="OK"} 1042
    tfserving_request_duration_seconds_bucket{...,model="bert",version="17",api="predict",
        entrypoint="REST",le="0.0020823"} 977
    tfserving_model_version_state{...,model="bert",version="17",state="AVAILABLE"} 1
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping
from dataclasses import dataclass, field

from exporter.catalogue.families import FamilySet
from exporter.tfserving import catalogue as m
from exporter.tfserving import page_data as page_
from exporter.tfserving.histograms import DROP_REASONS
from exporter.tfserving.page_data import ServingPage, split_model_path
from exporter.tfserving.source import REASONS, FetchError, ModelStatus
from exporter.tfserving.targets import Target

MAX_VERSIONS = 16


@dataclass
class TargetResult:
    """What one scrape of one target produced; failures are kept beside whatever did arrive."""

    target: Target
    page: ServingPage | None = None
    statuses: dict[str, ModelStatus] = field(default_factory=dict)
    errors: list[FetchError] = field(default_factory=list)
    duration: float = 0.0

    @property
    def success(self) -> bool:
        return self.page is not None and not self.errors

    def models(self) -> set[str]:
        """Every model this target serves as far as this scrape knows."""
        found = {name for name, status in self.statuses.items() if status.found}
        revealed = self.page.model_names() if self.page is not None else set()
        return set(self.target.models) | found | revealed


def target_labels(target: Target) -> dict[str, str]:
    return {"target": target.url, "namespace": target.namespace, "pod": target.pod}


def add_result(out: FamilySet, result: TargetResult, allowed: set[str], versions: Mapping[str, str]) -> None:
    """Add the page's and the statuses' series for the models in `allowed` (the cardinality bound);
    `versions` holds the `version` label of each model's traffic."""
    base = target_labels(result.target)
    if result.page is not None:
        _add_page(out, base, result.page, versions, allowed)
    for model, status in result.statuses.items():
        if model in allowed and (status.found or model in result.target.models):
            _add_status(out, base, status)


def _add_page(
    out: FamilySet, base: dict[str, str], page: ServingPage, versions: Mapping[str, str], allowed: set[str]
) -> None:
    for sample in page.scalar(page_.REQUEST_COUNT):
        model = sample.labels.get("model_name", "")
        if model in allowed:
            out.add(
                m.REQUESTS,
                sample.value,
                **base,
                model=model,
                version=versions.get(model, ""),
                status=sample.labels.get("status", ""),
            )
    # The last label tells the two latencies apart: entrypoint (REST, GRPC) or runtime (TF1, TFRT).
    for family, spec, variant in (
        (page_.REQUEST_LATENCY, m.REQUEST_DURATION, "entrypoint"),
        (page_.RUNTIME_LATENCY, m.RUNTIME_DURATION, "runtime"),
    ):
        for histogram in page.histogram(family):
            model, api = histogram.labels.get("model_name", ""), histogram.labels.get("API", "")
            # API "" is a status or metadata GET (this exporter's polls among them), not serving traffic.
            if model in allowed and api:
                labels = {
                    **base,
                    "model": model,
                    "version": versions.get(model, ""),
                    "api": api,
                    variant: histogram.labels.get(variant, ""),
                }
                out.add_histogram(spec, histogram.buckets, histogram.sum_seconds, **labels)
    for histogram in page.histogram(page_.QUEUING_LATENCY):
        out.add_histogram(
            m.BATCH_QUEUING_DURATION,
            histogram.buckets,
            histogram.sum_seconds,
            **base,
            thread_pool=histogram.labels.get("thread_pool_name", ""),
        )
    _add_loads(out, base, page, allowed)
    for spec, family, divisor in (
        (m.GRAPH_RUNS, page_.GRAPH_RUNS, 1),
        (m.GRAPH_RUN_SECONDS, page_.GRAPH_RUN_TIME, 1e6),
    ):
        samples = page.scalar(family)
        if samples:
            out.add(spec, sum(s.value for s in samples) / divisor, **base)


def _add_loads(out: FamilySet, base: dict[str, str], page: ServingPage, allowed: set[str]) -> None:
    # Several base paths can end in the same model and version folder names: sum them, never emit twice.
    attempts: dict[tuple[str, str, str], float] = defaultdict(float)
    for sample in page.scalar(page_.LOAD_ATTEMPTS):
        model, version = split_model_path(sample.labels.get("model_path", ""))
        attempts[(model, version, sample.labels.get("status", ""))] += sample.value
    seconds: dict[tuple[str, str], float] = defaultdict(float)
    for sample in page.scalar(page_.LOAD_LATENCY):
        seconds[split_model_path(sample.labels.get("model_path", ""))] += sample.value / 1e6
    for (model, version, status), count in attempts.items():
        if model in allowed:
            out.add(m.MODEL_LOAD_ATTEMPTS, count, **base, model=model, version=version, status=status)
    for (model, version), total in seconds.items():
        if model in allowed:
            out.add(m.MODEL_LOAD_SECONDS, total, **base, model=model, version=version)


def _add_status(out: FamilySet, base: dict[str, str], status: ModelStatus) -> None:
    labels = {**base, "model": status.model}
    out.add(m.MODEL_AVAILABLE_VERSIONS, len(status.available()), **labels)
    for version in status.versions[:MAX_VERSIONS]:
        out.add(m.MODEL_VERSION_STATE, 1, **labels, version=version.version, state=version.state)
        if version.error_code != "OK":
            out.add(
                m.MODEL_LOAD_ERROR,
                1,
                **labels,
                version=version.version,
                error_code=version.error_code,
                message=version.error_message,  # cut with a visible marker where labels are made safe
            )


def add_target_health(
    out: FamilySet,
    result: TargetResult,
    last_success: float | None,
    errors: Mapping[str, int],
    dropped: Mapping[str, int],
) -> None:
    base = target_labels(result.target)
    out.add(m.TARGET_SUCCESS, 1 if result.success else 0, **base)
    out.add(m.TARGET_DURATION, result.duration, **base)
    if last_success is not None:
        out.add(m.TARGET_LAST_SUCCESS, last_success, **base)
    for reason in REASONS:
        out.add(m.TARGET_ERRORS, errors.get(reason, 0), **base, reason=reason)
    for reason in DROP_REASONS:
        out.add(m.PAGE_LINES_DROPPED, dropped.get(reason, 0), **base, reason=reason)

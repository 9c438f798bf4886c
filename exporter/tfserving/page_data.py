"""What the exporter reads from TF Serving's metrics page: the families it uses, and the page as typed data.

`ServingPage` holds the samples and histograms of those families (seconds, not TF's microseconds), the
lines dropped by reason, and `problem`: whether what is left can be trusted. `exporter.tfserving.page`
parses a page into one.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from exporter.tfserving.histograms import Histogram

REQUEST_COUNT = ":tensorflow:serving:request_count"
REQUEST_LATENCY = ":tensorflow:serving:request_latency"
RUNTIME_LATENCY = ":tensorflow:serving:runtime_latency"
QUEUING_LATENCY = ":tensorflow:serving:batching_session:queuing_latency"
LOAD_ATTEMPTS = ":tensorflow:cc:saved_model:load_attempt_count"
LOAD_LATENCY = ":tensorflow:cc:saved_model:load_latency"
GRAPH_RUNS = ":tensorflow:core:graph_runs"
GRAPH_RUN_TIME = ":tensorflow:core:graph_run_time_usecs"
HISTOGRAMS = frozenset({REQUEST_LATENCY, RUNTIME_LATENCY, QUEUING_LATENCY})
COUNTERS = frozenset({REQUEST_COUNT, LOAD_ATTEMPTS, LOAD_LATENCY, GRAPH_RUNS, GRAPH_RUN_TIME})
WANTED = HISTOGRAMS | COUNTERS
# A model's request data: when lines of these are dropped, the target's scrape is not a success.
REQUEST_FAMILIES = frozenset({REQUEST_COUNT, REQUEST_LATENCY})


@dataclass(frozen=True)
class Sample:
    labels: dict[str, str]
    value: float


@dataclass
class ServingPage:
    """The families of one page the exporter uses, keyed by TF Serving's family name, and what was dropped."""

    samples: dict[str, list[Sample]] = field(default_factory=dict)
    histograms: dict[str, list[Histogram]] = field(default_factory=dict)
    dropped: dict[str, int] = field(default_factory=dict)  # lines by reason (DROP_REASONS)
    lost: set[str] = field(default_factory=set)  # used families some of whose lines were dropped
    declared: set[str] = field(default_factory=set)  # used families with a TYPE line or a sample
    recognised: bool = False  # whether any line was a valid TYPE or sample line
    _model_names: frozenset[str] | None = field(default=None, init=False, repr=False, compare=False)

    def scalar(self, family: str) -> list[Sample]:
        return self.samples.get(family, [])

    def histogram(self, family: str) -> list[Histogram]:
        return self.histograms.get(family, [])

    def drop(self, reason: str, family: str = "", lines: int = 1) -> None:
        self.dropped[reason] = self.dropped.get(reason, 0) + lines
        if family:
            self.lost.add(family)

    def problem(self, models_expected: bool) -> tuple[str, str] | None:
        """(reason, detail) when the page's request data cannot be trusted, else None.

        `models_expected`: models are configured for the target, so the page must hold request counts
        (TF Serving 2.5+ declares the family even before the first request).
        """
        lost = sorted(self.lost & REQUEST_FAMILIES)
        if lost:
            reasons = ", ".join(f"{count} {reason}" for reason, count in sorted(self.dropped.items()))
            return "dropped_lines", f"lines of {' and '.join(lost)} could not be used ({reasons})"
        if REQUEST_COUNT in self.declared:
            return None
        if not self.recognised:
            return "no_request_data", "the page holds no metric (empty, or not a metrics page)"
        if models_expected:
            return "no_request_data", f"the page has no {REQUEST_COUNT} (TF Serving before 2.5?)"
        return None

    def model_names(self) -> frozenset[str]:
        """Models the page reveals: served successfully, or loaded from a version folder."""
        if self._model_names is None:  # asked several times per scrape; the page does not change
            self._model_names = frozenset(self._reveal())
        return self._model_names

    def _reveal(self) -> set[str]:
        names = {
            s.labels.get("model_name", "")
            for s in self.scalar(REQUEST_COUNT)
            if s.labels.get("status") == "OK"
        }
        for family in (REQUEST_LATENCY, RUNTIME_LATENCY):
            names.update(h.labels.get("model_name", "") for h in self.histogram(family))
        names.update(split_model_path(s.labels.get("model_path", ""))[0] for s in self.scalar(LOAD_ATTEMPTS))
        names.discard("")
        return names


def split_model_path(path: str) -> tuple[str, str]:
    """`/models/bert/16` -> ("bert", "16"); a path that is not a version folder -> (its last part, "")."""
    parts = path.rstrip("/").rsplit("/", 2)
    if len(parts) >= 2 and parts[-1].isdigit():
        return parts[-2], parts[-1]
    return parts[-1], ""

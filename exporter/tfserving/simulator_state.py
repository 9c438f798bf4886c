"""What a simulated TF Serving holds (models, versions, metrics) and the responses it gives from them."""

from __future__ import annotations

import random
import threading
from collections import defaultdict
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from exporter.tfserving.simulator_format import (
    EMPTY_FAMILIES,
    LATENCY_BOUNDS,
    QUEUING_BOUNDS,
    Histogram,
    LabelValues,
    colon_name,
    error_body,
    histogram_family,
    json_body,
    scalar_family,
)


@dataclass
class SimVersion:
    """A model version; a non-OK error_code makes it a failed load (state END, load attempts failed)."""

    version: int
    state: str = "AVAILABLE"
    error_code: str = "OK"
    error_message: str = ""
    load_latency_us: float = 8_000_000
    load_stages_us: Mapping[str, float] | None = None
    load_attempts: int = 1


@dataclass
class SimModel:
    name: str
    versions: list[SimVersion] = field(default_factory=lambda: [SimVersion(1)])
    base_path: str = ""
    latency_median_us: float = 5_000
    latency_sigma: float = 0.6
    # TF status code name -> share of requests answered with it; the rest are OK.
    error_ratios: Mapping[str, float] = field(default_factory=dict)
    runtime: str = "TF1"
    signature_def: Mapping[str, Any] | None = None

    def __post_init__(self) -> None:
        self.base_path = self.base_path or f"/models/{self.name}"

    def available(self) -> list[SimVersion]:
        return [v for v in self.versions if v.state == "AVAILABLE"]


def failed_version(version: int, path: str, attempts: int = 6) -> SimVersion:
    """A version whose SavedModel cannot be loaded (TF retries 5 times by default: 6 attempts)."""
    return SimVersion(
        version,
        state="END",
        error_code="NOT_FOUND",
        load_attempts=attempts,
        error_message=f"Could not find SavedModel .pb or .pbtxt at supplied export directory path: {path}",
    )


class TFServingState:
    """Models, versions and metrics of one simulated server; thread-safe."""

    def __init__(self, models: list[SimModel], seed: int = 0, batching: bool = False) -> None:
        self.models = {model.name: model for model in models}
        self.batching = batching
        self._rng = random.Random(seed)
        self._lock = threading.Lock()
        self._request_count: dict[LabelValues, int] = defaultdict(int)
        self._latency: dict[str, dict[LabelValues, Histogram]] = defaultdict(dict)
        self.graph_runs = 0
        self.graph_run_time_us = 0
        self._loads: tuple[str, list[tuple[str, str, list[str]]]] | None = None

    def _observe(self, family: str, labels: LabelValues, value: float, bounds: tuple[float, ...]) -> None:
        histograms = self._latency[family]
        histogram = histograms.get(labels)
        if histogram is None:
            histogram = histograms[labels] = Histogram(bounds)
        histogram.observe(value)

    def record(self, model: str, status: str, api: str, entrypoint: str, latency_us: float) -> None:
        """Count one request; latency is recorded only for OK ones, as TF Serving does."""
        with self._lock:
            self._request_count[(model, status)] += 1
            if status != "OK":
                return
            self._observe("request_latency", (model, api, entrypoint), latency_us, LATENCY_BOUNDS)
            if api:
                sim = self.models.get(model)
                runtime = sim.runtime if sim else "TF1"
                self._observe("runtime_latency", (model, api, runtime), latency_us * 0.8, LATENCY_BOUNDS)
                self.graph_runs += 1
                self.graph_run_time_us += int(latency_us * 0.8)
                if self.batching:
                    self._observe(
                        "queuing_latency", ("shared_batch_scheduler",), latency_us * 0.1, QUEUING_BOUNDS
                    )

    def simulate(
        self, model: str, count: int = 1, api: str = "predict", entrypoint: str = "REST"
    ) -> list[str]:
        """Serve `count` requests without HTTP: draw latency and status from the model's settings."""
        statuses = []
        for _ in range(count):
            status, latency = self.draw(model)
            self.record(model, status, api, entrypoint, latency)
            statuses.append(status)
        return statuses

    def draw(self, model: str) -> tuple[str, float]:
        sim = self.models.get(model)
        if sim is None or not sim.available():
            return "NOT_FOUND", 50.0
        with self._lock:
            roll, latency = (
                self._rng.random(),
                self._rng.lognormvariate(0, sim.latency_sigma) * sim.latency_median_us,
            )
        for status, ratio in sim.error_ratios.items():
            if roll < ratio:
                return status, latency
            roll -= ratio
        return "OK", latency

    def poll_latency_us(self) -> float:
        with self._lock:
            return 60 + self._rng.random() * 240

    def status(self, model: str, version: str | None = None) -> tuple[int, str]:
        """GET /v1/models/{model}[/versions/{version}]: (HTTP status, body)."""
        sim = self.models.get(model)
        versions = sorted(sim.versions, key=lambda v: v.version, reverse=True) if sim else []
        if version is not None:
            versions = [v for v in versions if str(v.version) == version]
            if not versions:
                return 404, error_body(f"Could not find version {version} of model {model}")
        if not versions:
            return 404, error_body(f"Could not find any versions of model {model}")
        entries = [
            {
                "version": str(v.version),
                "state": v.state,
                "status": {"error_code": v.error_code, "error_message": v.error_message},
            }
            for v in versions
        ]
        return 200, json_body({"model_version_status": entries})

    def metadata(self, model: str, version: str | None = None) -> tuple[int, str]:
        """GET /v1/models/{model}/metadata: the served version's signatures."""
        sim = self.models.get(model)
        available = [
            v for v in (sim.available() if sim else []) if version is None or str(v.version) == version
        ]
        if sim is None or not available:
            wanted = f"Specific({model}, {version})" if version else f"Latest({model})"
            return 404, error_body(f"Servable not found for request: {wanted}")
        served = max(v.version for v in available)
        body = {
            "model_spec": {"name": model, "signature_name": "", "version": str(served)},
            "metadata": {"signature_def": {"signature_def": dict(sim.signature_def or default_signatures())}},
        }
        return 200, json_body(body)

    def page(self) -> str:
        """The whole metrics page."""
        families: list[tuple[str, str, list[str]]] = [(name, kind, []) for name, kind in EMPTY_FAMILIES]
        with self._lock:
            families.extend(self._load_families_cached())
            families.append(
                scalar_family("/tensorflow/core/graph_runs", "counter", (), [((), self.graph_runs)])
            )
            families.append(
                scalar_family(
                    "/tensorflow/core/graph_run_time_usecs", "counter", (), [((), self.graph_run_time_us)]
                )
            )
            families.append(scalar_family("/tensorflow/core/session_created", "gauge", (), [((), 0)]))
            families.append(
                scalar_family(
                    "/tensorflow/serving/request_count",
                    "counter",
                    ("model_name", "status"),
                    sorted(self._request_count.items()),
                )
            )
            served: list[tuple[str, str, tuple[str, ...]]] = [
                (
                    "request_latency",
                    "/tensorflow/serving/request_latency",
                    ("model_name", "API", "entrypoint"),
                ),
                ("runtime_latency", "/tensorflow/serving/runtime_latency", ("model_name", "API", "runtime")),
            ]
            if self.batching:
                served.append(
                    (
                        "queuing_latency",
                        "/tensorflow/serving/batching_session/queuing_latency",
                        ("thread_pool_name",),
                    )
                )
            for family, tf_name, names in served:
                families.append(histogram_family(tf_name, names, sorted(self._latency[family].items())))
        lines = []
        for tf_name, kind, samples in sorted(families):
            lines.append(f"# TYPE {colon_name(tf_name)} {kind}")
            lines.extend(samples)
        return "\n".join(lines) + "\n"

    def _load_families_cached(self) -> list[tuple[str, str, list[str]]]:
        # Loads change only when a test edits versions; rebuilding 20 histograms per page would dominate.
        key = repr([(sim.base_path, sim.versions) for sim in self.models.values()])
        if self._loads is None or self._loads[0] != key:
            self._loads = (key, self._load_families())
        return self._loads[1]

    def _load_families(self) -> list[tuple[str, str, list[str]]]:
        attempts: list[tuple[LabelValues, float]] = []
        latency: list[tuple[LabelValues, float]] = []
        stages: list[tuple[LabelValues, Histogram]] = []
        for sim in self.models.values():
            for version in sim.versions:
                path = f"{sim.base_path}/{version.version}"
                failed = version.error_code != "OK"
                attempts.append(((path, "fail" if failed else "success"), version.load_attempts))
                if failed:
                    continue
                latency.append(((path,), int(version.load_latency_us)))
                spent = version.load_stages_us or {
                    "init_graph": 0.04 * version.load_latency_us,
                    "restore_graph": 0.95 * version.load_latency_us,
                }
                for stage, micros in spent.items():
                    histogram = Histogram(LATENCY_BOUNDS)
                    histogram.observe(micros)
                    stages.append(((path, stage), histogram))
        return [
            scalar_family(
                "/tensorflow/cc/saved_model/load_attempt_count",
                "counter",
                ("model_path", "status"),
                sorted(attempts),
            ),
            scalar_family(
                "/tensorflow/cc/saved_model/load_latency", "counter", ("model_path",), sorted(latency)
            ),
            histogram_family(
                "/tensorflow/cc/saved_model/load_latency_by_stage",
                ("model_path", "stage"),
                sorted(stages, key=lambda item: item[0]),
            ),
        ]


def default_signatures() -> dict[str, Any]:
    """A `serving_default` predict signature shaped like TF's half_plus_two test model."""
    tensor = {
        "dtype": "DT_FLOAT",
        "tensor_shape": {
            "dim": [{"size": "-1", "name": ""}, {"size": "1", "name": ""}],
            "unknown_rank": False,
        },
    }
    return {
        "serving_default": {
            "inputs": {"x": {**tensor, "name": "x:0"}},
            "outputs": {"y": {**tensor, "name": "y:0"}},
            "method_name": "tensorflow/serving/predict",
            "defaults": {},
        }
    }

"""Write a fleet's history as OpenMetrics, one file per cluster, in the exporter's real names and labels.

Each cluster has its GPU DaemonSet targets (GPUs, attribution, the TF Serving pods on the node) and one
cluster-wide MLflow target, labelled as the ServiceMonitors relabel them (job, instance, node; no cluster
label: that comes from external labels or the remote-write/import path). Dynamics: a diurnal load drives
request rates and serving GPUs' utilization, latency is log-normal per model, counters integrate their rates;
the faults of `Faults` start at `Faults.since`.

    python -m benchmarks.fleet.generate --nodes 20 --models 10 --out /tmp/fleet
"""

from __future__ import annotations

import functools
import math
import random
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from itertools import accumulate
from pathlib import Path
from typing import IO

from benchmarks.fleet.shape import (
    Faults,
    Fleet,
    model_name,
    node_instance,
    node_name,
    pod_address,
    served_version,
    serving_pod,
)
from exporter.catalogue.families import FamilySet
from exporter.gpu.collector import GpuCollector
from exporter.gpu.fake_nvml import FakeNvml, ManualClock
from exporter.gpu.fake_nvml import load as load_scenario
from exporter.gpu.nvml import NvmlSource
from exporter.gpu.nvml_types import CLOCK_EVENT_REASONS
from exporter.http_server import EVENTS as HTTP_EVENTS
from exporter.mlflow.stats import DURATION_BUCKETS
from exporter.tfserving.histograms import DROP_REASONS, le_seconds
from exporter.tfserving.simulator_format import LATENCY_BOUNDS, six_digits
from exporter.tfserving.source import REASONS

Values = float | Sequence[float | None]  # a constant, or one value (None: absent) per sample time
GPU_JOB = "mlobs-exporter"
CLUSTER_JOB = "mlobs-exporter-cluster"
# The exporter's own vocabularies of the labels that take fixed values.
CLOCK_REASONS = tuple(name for name, _ in CLOCK_EVENT_REASONS)
TARGET_ERROR_REASONS = REASONS
PAGE_DROP_REASONS = DROP_REASONS
# The exporter's `le` of TF Serving's latency buckets: the page's six digits in microseconds, in seconds.
LATENCY_LE = (*(le_seconds(six_digits(b))[0] for b in LATENCY_BOUNDS), "+Inf")
MLFLOW_LE = (*(repr(b) for b in DURATION_BUCKETS), "+Inf")
MLFLOW_ENDPOINTS = ("registered-models/search", "model-versions/search", "runs/search", "experiments/search")
MLFLOW_SECTIONS = ("registry", "baseline", "training", "monitoring")
GIB = 1024**3


# The fleet's GPUs copy the per-GPU families it does not model from one scrape of this fake node.
REFERENCE_SCENARIO = "h100-8x"
_PER_GPU_LINE = re.compile(r'^(\w+)\{gpu="(\d+)",uuid="[^"]*"\} (\S+)$')


@functools.cache
def reference_gpu_values() -> dict[str, dict[int, float]]:
    """Every plain per-GPU series (labels gpu and uuid only) the GPU collector serves on the fake
    REFERENCE_SCENARIO node, as {metric: {gpu index: value}}: a metric added to the collector is in the
    fleet without a change here; the dynamics of the families the rules and panels read are modelled
    in `ClusterHistory.gpu`."""
    clock = ManualClock()
    fake = FakeNvml(load_scenario(REFERENCE_SCENARIO), clock=clock)
    source = NvmlSource(fake, call_timeout=2.0, clock=clock, xid_events=False)
    try:
        families = FamilySet()
        GpuCollector(source, "reference", "fake").collect(families)
        lines: list[str] = []
        families.render_into(lines)
    finally:
        source.close()
    values: dict[str, dict[int, float]] = {}
    for line in lines:
        found = _PER_GPU_LINE.match(line)
        if found:
            values.setdefault(found.group(1), {})[int(found.group(2))] = float(found.group(3))
    return values


def labels(**values: str) -> str:
    return ",".join(f'{k}="{v}"' for k, v in values.items())


@dataclass
class Entity:
    """The series of one scrape target's unit (a node's GPUs, a serving pod, the registry)."""

    series: list[tuple[str, Values]]

    def add(self, name: str, label_text: str, values: Values) -> None:
        self.series.append((f"{name}{{{label_text}}}", values))


def load(t: float) -> float:
    """Diurnal traffic: 0.3 at night, 1.0 at the afternoon peak (UTC)."""
    return 0.65 + 0.35 * math.sin(2 * math.pi * (t / 86400 - 0.375))


def counter(rates: Sequence[float | None], step: int, start: float) -> list[float | None]:
    """A counter integrating per-second `rates` (None: absent, the count kept)."""
    totals = list(accumulate((r or 0.0) * step for r in rates))
    return [None if r is None else start + total for r, total in zip(rates, totals, strict=True)]


def _normal_cdf(x: float) -> float:
    return 0.5 * (1 + math.erf(x / math.sqrt(2)))


def lognormal_cdf(bounds: Sequence[str], median: float, sigma: float = 0.6) -> list[float]:
    return [
        1.0 if b == "+Inf" else _normal_cdf((math.log(float(b)) - math.log(median)) / sigma) for b in bounds
    ]


class ClusterHistory:
    """One cluster's series over `fleet.times`."""

    def __init__(self, fleet: Fleet, cluster: int, faults: Faults) -> None:
        self.fleet, self.cluster, self.faults = fleet, cluster, faults
        self.times = list(fleet.times)
        self.after = [t >= faults.since for t in self.times]
        self.load = [load(t) for t in self.times]

    def target(self, node: int) -> str:
        return labels(job=GPU_JOB, instance=node_instance(node), node=node_name(node))

    def entities(self) -> Iterator[Entity]:
        serving: dict[int, list[tuple[int, int]]] = {}
        for model in range(self.fleet.models):
            for replica in range(self.fleet.pods_per_model):
                _, node, _ = serving_pod(self.fleet, model, replica)
                serving.setdefault(node, []).append((model, replica))
        for node in range(self.fleet.nodes):
            yield self.node(node, serving.get(node, []))
            for model, replica in serving.get(node, []):
                yield self.serving_pod(model, replica)
        yield self.registry()

    # The GPU DaemonSet's own series on one node, and its GPUs with their attribution.
    def backend(self, node: int) -> str:
        return "fake" if node == Faults.fake_node(self.cluster) else "nvml"

    def node(self, node: int, serving: list[tuple[int, int]]) -> Entity:
        e = Entity([])
        backend = self.backend(node)
        target = self.target(node)
        e.add(
            "mlobs_build_info", f'version="0.1.0",python_version="3.11.7",gpu_backend="{backend}",{target}', 1
        )
        for collector in ("gpu", "tfserving", "attribution"):
            e.add("mlobs_collector_success", f'collector="{collector}",{target}', 1)
            e.add("mlobs_collector_duration_seconds", f'collector="{collector}",{target}', 0.004)
            e.add("mlobs_label_values_sanitized_total", f'collector="{collector}",{target}', 0)
        # The HTTP front's counters: one scrape every 15 s of the history, nothing refused.
        scrapes = counter([1 / 15] * len(self.times), self.fleet.step, 0.0)
        for event in HTTP_EVENTS:
            handled = event in ("accepted", "queued", "answered")
            e.add("mlobs_http_events_total", f'event="{event}",{target}', scrapes if handled else 0)
        e.add("nvidia_nvml_up", target, 1)
        e.add("nvidia_nvml_reinits_total", target, 0)
        e.add("nvidia_nvml_call_timeouts_total", target, 0)
        e.add("nvidia_nvml_errors_total", f'kind="not_supported",{target}', 16)
        e.add("tfserving_kubernetes_discovery_success", target, 1)
        e.add("tfserving_kubernetes_discovered_targets", target, len(serving))
        e.add("mlobs_attribution_up", f'source="podresources",{target}', 1)
        e.add("mlobs_attribution_unresolved_devices", target, 0)
        held = {serving_pod(self.fleet, m, r)[2]: (m, r) for m, r in serving}
        for gpu in range(self.fleet.gpus_per_node):
            self.gpu(e, node, gpu, held.get(gpu))
        return e

    def gpu(self, e: Entity, node: int, gpu: int, served: tuple[int, int] | None) -> None:
        f, target = self.faults, self.target(node)
        rng = random.Random(f"{self.cluster}/{node}/{gpu}")
        uuid = f"GPU-{rng.getrandbits(128):032x}"
        dev = f'gpu="{gpu}",uuid="{uuid}"'
        lost = (node, gpu) == f.lost_gpu
        idle = node % f.idle_every == f.idle_every - 1
        if served is not None:
            util = [0.45 + 0.5 * x for x in self.load]
            used = 30.0 * GIB
        elif idle:
            util, used = [0.05 + 0.02 * rng.random() for _ in self.times], 40.0 * GIB
        else:
            util, used = [min(0.99, 0.82 + 0.12 * rng.random()) for _ in self.times], 74.0 * GIB
        live: list[float | None] = [None if lost and a else u for u, a in zip(util, self.after, strict=True)]

        def per_time(scale: float, offset: float = 0.0) -> list[float | None]:
            return [None if u is None else offset + scale * u for u in live]

        g, first = f"{dev},{target}", len(e.series)
        e.add(
            "nvidia_gpu_info",
            f'{dev},name="NVIDIA H100 80GB HBM3",pci_bus_id="00000000:{0x18 + gpu * 16:02X}:00.0",'
            f'driver_version="550.90.07",cuda_driver_version="12.4",backend="{self.backend(node)}",{target}',
            1,
        )
        e.add("nvidia_gpu_up", g, [0.0 if lost and a else 1.0 for a in self.after])
        e.add("nvidia_gpu_utilization_ratio", g, live)
        e.add("nvidia_gpu_memory_utilization_ratio", g, per_time(0.5))
        e.add("nvidia_gpu_busy_seconds_total", g, counter(live, self.fleet.step, 1e5))
        hot = (node, gpu) == f.hot_gpu
        temperature = per_time(40.0, 35.0)
        if hot:
            temperature = [
                93.0 if a and v is not None else v for v, a in zip(temperature, self.after, strict=True)
            ]
        e.add("nvidia_gpu_temperature_celsius", g, temperature)
        power = per_time(550.0, 90.0)
        e.add("nvidia_gpu_power_watts", g, power)
        e.add("nvidia_gpu_power_limit_watts", g, self._while_up(live, 700.0))
        e.add("nvidia_gpu_energy_joules_total", g, counter(power, self.fleet.step, 3e9))
        e.add("nvidia_gpu_sm_clock_hertz", g, self._while_up(live, 1.98e9))
        e.add("nvidia_gpu_memory_clock_hertz", g, self._while_up(live, 2.619e9))
        e.add("nvidia_gpu_performance_state", g, self._while_up(live, 0.0))
        e.add("nvidia_gpu_memory_used_bytes", g, self._while_up(live, used))
        e.add("nvidia_gpu_memory_total_bytes", g, self._while_up(live, 85520809984.0))
        e.add("nvidia_gpu_memory_reserved_bytes", g, self._while_up(live, 568328192.0))
        for direction, rate in (("tx", 2e8), ("rx", 5e8)):
            e.add(
                "nvidia_gpu_pcie_bytes_total",
                f'{dev},direction="{direction}",{target}',
                counter(per_time(rate), self.fleet.step, 2e10),
            )
        e.add("nvidia_gpu_pcie_replays_total", g, self._while_up(live, 0.0))
        for reason in CLOCK_REASONS:
            e.add(
                "nvidia_gpu_clock_event_active",
                f'{dev},reason="{reason}",{target}',
                self._while_up(live, 0.0),
            )
        for error_type in ("corrected", "uncorrected"):
            for kind in ("volatile", "aggregate"):
                value = 3.0 if (error_type, kind) == ("corrected", "aggregate") else 0.0
                e.add(
                    "nvidia_gpu_ecc_errors_total",
                    f'{dev},error_type="{error_type}",counter="{kind}",{target}',
                    self._while_up(live, value),
                )
        for severity in ("correctable", "uncorrectable"):
            e.add(
                "nvidia_gpu_remapped_rows_total",
                f'{dev},severity="{severity}",{target}',
                self._while_up(live, 0),
            )
        e.add("nvidia_gpu_remapped_rows_pending", g, self._while_up(live, 0.0))
        e.add("nvidia_gpu_remapped_rows_failure", g, self._while_up(live, 0.0))
        e.add("nvidia_gpu_mig_mode_enabled", g, self._while_up(live, 0.0))
        if lost:
            seen = [1.0 if a else None for a in self.after]
            e.add("nvidia_gpu_xid_errors_total", f'{dev},xid="79",{target}', seen)
            e.add(
                "nvidia_gpu_xid_last_seen_timestamp_seconds",
                f'{dev},xid="79",{target}',
                [float(f.since) if a else None for a in self.after],
            )
        modelled = {series.split("{", 1)[0] for series, _ in e.series[first:]}
        for name, by_gpu in reference_gpu_values().items():
            if name not in modelled and gpu % len(by_gpu) in by_gpu:
                e.add(name, g, self._while_up(live, by_gpu[gpu % len(by_gpu)]))
        # Attribution: the pod holding the GPU (a trainer, or a TF Serving replica with its model).
        if served is None:
            namespace, pod, container = "training", f"trainer-{node:04d}-{gpu}", "trainer"
        else:
            namespace, pod, container = "serving", serving_pod(self.fleet, *served)[0], "tf-serving"
        holder = f'gpu="{gpu}",uuid="{uuid}",mig_uuid="",namespace="{namespace}",pod="{pod}"'
        e.add(
            "nvidia_gpu_allocation_info",
            f'uuid="{uuid}",gpu="{gpu}",mig_uuid="",namespace="{namespace}",pod="{pod}",'
            f'container="{container}",resource="nvidia.com/gpu",{target}',
            1,
        )
        if served is not None:
            e.add("nvidia_gpu_model_info", f'{holder},model="{model_name(served[0])}",{target}', 1)

    @staticmethod
    def _while_up(live: Sequence[float | None], value: float) -> list[float | None]:
        return [None if u is None else value for u in live]

    # One TF Serving replica, read by the GPU exporter on its node.
    def serving_pod(self, model: int, replica: int) -> Entity:
        e, f, step = Entity([]), self.faults, self.fleet.step
        pod, node, _ = serving_pod(self.fleet, model, replica)
        name, version = model_name(model), str(served_version(model))
        t = f'target="{pod_address(model, replica)}",namespace="serving",pod="{pod}"'
        job = self.target(node)
        target = f"{t},{job}"
        m = f'{t},model="{name}"'
        mv = f'{m},version="{version}"'
        base = 4.0 + model % 17
        rates = [base * x for x in self.load]
        errors = [0.2 if model == f.failing_model and a else 0.001 for a in self.after]
        ok = [r * (1 - e_) for r, e_ in zip(rates, errors, strict=True)]
        for status, share in (("OK", None), ("INVALID_ARGUMENT", 0.004), ("INTERNAL", None)):
            if status == "OK":
                per_second: list[float | None] = list(ok)
            elif status == "INTERNAL":
                per_second = [r * e_ for r, e_ in zip(rates, errors, strict=True)]
            else:
                per_second = [r * (share or 0) for r in rates]
            e.add(
                "tfserving_requests_total",
                f'{mv},status="{status}",{job}',
                counter(per_second, step, 0),
            )
        median = 0.012 + 0.002 * (model % 10)
        medians = [median * 10 if model == f.slow_model and a else median for a in self.after]
        for family, extra, scale in (
            ("tfserving_request_duration_seconds", 'api="predict",entrypoint="REST"', 1.0),
            ("tfserving_runtime_duration_seconds", 'api="predict",runtime="TF1"', 0.8),
        ):
            self._histogram(e, family, f"{mv},{extra}", job, ok, [x * scale for x in medians])
        e.add("tfserving_model_version_state", f'{mv},state="AVAILABLE",{job}', 1)
        e.add("tfserving_model_version_state", f'{m},version="{int(version) - 1}",state="END",{job}', 1)
        e.add("tfserving_model_available_versions", f"{m},{job}", 1)
        for v in (str(int(version) - 1), version):
            e.add("tfserving_model_load_attempts_total", f'{m},version="{v}",status="success",{job}', 1)
            e.add("tfserving_model_load_seconds_total", f'{m},version="{v}",{job}', 8.0)
        e.add("tfserving_graph_runs_total", target, counter(rates, step, 0))
        e.add("tfserving_graph_run_seconds_total", target, counter([r * median for r in rates], step, 0))
        e.add("tfserving_target_scrape_success", target, 1)
        e.add("tfserving_target_scrape_duration_seconds", target, 0.009)
        e.add("tfserving_target_last_success_timestamp_seconds", target, [float(x) for x in self.times])
        for reason in TARGET_ERROR_REASONS:
            e.add("tfserving_target_errors_total", f'{t},reason="{reason}",{job}', 0)
        for reason in PAGE_DROP_REASONS:
            e.add("tfserving_page_lines_dropped_total", f'{t},reason="{reason}",{job}', 0)
        return e

    def _histogram(
        self, e: Entity, family: str, series: str, job: str, counts: Sequence[float], medians: Sequence[float]
    ) -> None:
        step = self.fleet.step
        buckets = [[0.0] * len(self.times) for _ in LATENCY_LE]
        total, sums = 0.0, []
        for i, (n, median) in enumerate(zip(counts, medians, strict=True)):
            cdf = lognormal_cdf(LATENCY_LE, median)
            for b, share in enumerate(cdf):
                buckets[b][i] = (buckets[b][i - 1] if i else 0.0) + round(n * step * share)
            total += n * step * median * 1.2
            sums.append(total)
        for le, values in zip(LATENCY_LE, buckets, strict=True):
            e.add(f"{family}_bucket", f'{series},le="{le}",{job}', values)
        e.add(f"{family}_count", f"{series},{job}", buckets[-1])
        e.add(f"{family}_sum", f"{series},{job}", sums)

    # The cluster-wide exporter reading MLflow.
    def registry(self) -> Entity:
        e, f, step = Entity([]), self.faults, self.fleet.step
        target = labels(job=CLUSTER_JOB, instance="10.2.0.1:9847")
        e.add("mlobs_build_info", f'version="0.1.0",python_version="3.11.7",gpu_backend="none",{target}', 1)
        e.add("mlobs_collector_success", f'collector="mlflow",{target}', 1)
        e.add("mlobs_collector_duration_seconds", f'collector="mlflow",{target}', 0.001)
        e.add("mlobs_label_values_sanitized_total", f'collector="mlflow",{target}', 0)
        e.add("mlflow_up", target, 1)
        for section in MLFLOW_SECTIONS:
            e.add("mlflow_snapshot_age_seconds", f'section="{section}",{target}', 30.0)
        e.add("mlflow_refresh_duration_seconds", target, 1.5)
        calls = 0.2 * self.fleet.models / 100 + 0.05
        for endpoint in MLFLOW_ENDPOINTS:
            where = f'endpoint="{endpoint}"'
            e.add("mlflow_requests_total", f"{where},{target}", counter([calls] * len(self.times), step, 0))
            e.add("mlflow_request_errors_total", f'{where},kind="timeout",{target}', 0)
            shares = lognormal_cdf(MLFLOW_LE, 0.08, 0.5)
            for le, share in zip(MLFLOW_LE, shares, strict=True):
                e.add(
                    "mlflow_request_duration_seconds_bucket",
                    f'{where},le="{le}",{target}',
                    counter([calls * share] * len(self.times), step, 0),
                )
            e.add(
                "mlflow_request_duration_seconds_count",
                f"{where},{target}",
                counter([calls] * len(self.times), step, 0),
            )
            e.add(
                "mlflow_request_duration_seconds_sum",
                f"{where},{target}",
                counter([calls * 0.1] * len(self.times), step, 0),
            )
        e.add("mlflow_dropped_total", f'what="models",{target}', 0)
        e.add("mlflow_registered_models", target, self.fleet.models)
        e.add("mlflow_monitoring_runs_read", target, self.fleet.models)
        for model in range(self.fleet.models):
            self._model(e, model, target, model == f.drifting_model)
        for experiment in ("train-ranking", "train-fraud", "train-vision"):
            x = f'experiment="{experiment}"'
            for status, count in (("FINISHED", 40), ("FAILED", 1), ("KILLED", 1), ("RUNNING", 2)):
                e.add("mlflow_training_runs", f'{x},status="{status}",window="7d",{target}', count)
                e.add("mlflow_training_runs", f'{x},status="{status}",window="1d",{target}', count // 7)
            e.add("mlflow_training_last_run_duration_seconds", f'{x},status="FINISHED",{target}', 5400)
            e.add("mlflow_training_last_success_timestamp_seconds", f"{x},{target}", float(f.since - 7200))
        return e

    def _model(self, e: Entity, model: int, target: str, drifting: bool) -> None:
        name, served = model_name(model), served_version(model)
        m = f'model="{name}"'
        e.add("mlflow_model_versions", f'{m},status="READY",{target}', self.fleet.registry_versions)
        for version in range(served - 1, served + 1):
            stage = "Production" if version == served else "Archived"
            e.add(
                "mlflow_model_version_info",
                f'{m},version="{version}",status="READY",stage="{stage}",{target}',
                1,
            )
        e.add("mlflow_model_alias_version", f'{m},alias="production",{target}', served)
        e.add("mlflow_model_alias_version_age_seconds", f'{m},alias="production",{target}', 86400.0 * 3)
        mv = f'{m},version="{served}"'
        e.add(
            "mlflow_model_offline_metric",
            f'{m},alias="production",version="{served}",metric="auc",{target}',
            0.91,
        )
        e.add("mlflow_model_quality", f'{mv},metric="auc",{target}', 0.905)
        e.add(
            "mlflow_model_quality_timestamp_seconds",
            f'{mv},metric="auc",{target}',
            float(self.faults.since - 600),
        )
        for feature in ("", *(f"f{i}" for i in range(self.fleet.drift_features))):
            where = f'{mv},metric="psi",feature="{feature}"'
            value: Values = [0.45 if a else 0.04 for a in self.after] if drifting else 0.04
            e.add("mlflow_model_drift", f"{where},{target}", value)
            e.add("mlflow_model_drift_timestamp_seconds", f"{where},{target}", float(self.faults.since - 600))


def write(history: ClusterHistory, out: IO[str]) -> int:
    """OpenMetrics lines of every series, time-ordered per series; returns the number of series."""
    stamps = [str(t) for t in history.times]
    count = 0
    for entity in history.entities():
        count += len(entity.series)
        lines = []
        for i, stamp in enumerate(stamps):
            for prefix, values in entity.series:
                value = values if isinstance(values, int | float) else values[i]
                if value is not None:
                    lines.append(f"{prefix} {value:.12g} {stamp}\n")
        out.write("".join(lines))
    return count


def write_cluster(fleet: Fleet, cluster: int, faults: Faults, path: Path) -> int:
    with path.open("w", encoding="utf-8") as out:
        count = write(ClusterHistory(fleet, cluster, faults), out)
        out.write("# EOF\n")
    return count

"""What every GPU scrape must satisfy, on the fake scenarios and on real hardware alike.

Used by the fake-scenario tests and by tests/device/check.py on a machine with an NVIDIA GPU, so it
depends on prometheus-client only. Each check returns a list of human-readable violations.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Iterable

from prometheus_client.parser import text_string_to_metric_families

Labels = frozenset[tuple[str, str]]
Series = dict[tuple[str, Labels], float]

CLOCK_EVENT_REASONS = {
    "gpu_idle", "applications_clocks", "sw_power_cap", "hw_slowdown", "sync_boost",
    "sw_thermal", "hw_thermal", "hw_power_brake", "display_clock",
}  # fmt: skip
RATIOS = ("nvidia_gpu_utilization_ratio", "nvidia_gpu_memory_utilization_ratio")
# NVML's "not available" fillers, raw and after the exporter's unit conversions: never to be exported.
_SENTINELS = {
    float(raw) * scale
    for raw in (0xFFFFFFFF, 0xFFFFFFFFFFFFFFFF, 0x7FFFFFFF)
    for scale in (1, 1e-3, 1e6, 1024, 0.01)
}
COUNTERS = (
    "nvidia_gpu_busy_seconds_total",
    "nvidia_gpu_energy_joules_total",
    "nvidia_gpu_pcie_bytes_total",
    "nvidia_gpu_pcie_replays_total",
    "nvidia_gpu_ecc_errors_total",
    "nvidia_gpu_remapped_rows_total",
    "nvidia_gpu_retired_pages_total",
    "nvidia_gpu_xid_errors_total",
    "nvidia_nvml_errors_total",
    "nvidia_nvml_reinits_total",
    "nvidia_nvml_call_timeouts_total",
)


def parse(text: str) -> Series:
    series: Series = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            series[(sample.name, frozenset(sample.labels.items()))] = float(sample.value)
    return series


def _named(series: Series, name: str) -> Iterable[tuple[dict[str, str], float]]:
    for (sample, labels), value in series.items():
        if sample == name:
            yield dict(labels), value


def check_scrape(text: str, backend: str, healthy: bool = True) -> list[str]:
    """Violations in one scrape. `healthy`: NVML up, every GPU up, the collection complete."""
    series = parse(text)
    problems: list[str] = []
    problems += _check_exporter(series, backend, healthy)
    gpus = _check_info(series, backend, problems)
    for (name, labels), value in series.items():
        where = f"{name}{dict(labels)}"
        if not math.isfinite(value):
            problems.append(f"{where} is {value}")
        if value in _SENTINELS:
            problems.append(f"{where} = {value:g} looks like an NVML 'not available' sentinel")
        gpu = (dict(labels).get("gpu"), dict(labels).get("uuid"))
        if name.startswith("nvidia_gpu_") and name != "nvidia_gpu_info" and gpu not in gpus:
            problems.append(f"{where} has no matching nvidia_gpu_info")
        if name.startswith(COUNTERS) and value < 0:
            problems.append(f"{where} is a negative counter")
    for name in RATIOS:
        problems += [f"{name}{lbl} = {v} outside 0..1" for lbl, v in _named(series, name) if not 0 <= v <= 1]
    problems += [
        f"fan {lbl} = {v}" for lbl, v in _named(series, "nvidia_gpu_fan_speed_ratio") if not 0 <= v <= 2
    ]
    problems += _check_physics(series)
    problems += _check_clock_events(series)
    problems += _check_mig(series)
    for labels, value in _named(series, "nvidia_gpu_up"):
        if value not in (0, 1) or (healthy and value != 1):
            problems.append(f"nvidia_gpu_up{labels} = {value}")
    return problems


def _check_exporter(series: Series, backend: str, healthy: bool) -> list[str]:
    problems = []
    build = list(_named(series, "mlobs_build_info"))
    if len(build) != 1 or build[0][0].get("gpu_backend") != backend:
        problems.append(f"mlobs_build_info should carry gpu_backend={backend!r}: {build}")
    success = dict((lbl.get("collector"), v) for lbl, v in _named(series, "mlobs_collector_success"))
    if "gpu" not in success:
        problems.append("mlobs_collector_success{collector='gpu'} is missing")
    elif healthy and success["gpu"] != 1:
        problems.append("mlobs_collector_success{collector='gpu'} is not 1")
    nvml_up = [v for _, v in _named(series, "nvidia_nvml_up")]
    if nvml_up != [1.0] and healthy:
        problems.append(f"nvidia_nvml_up = {nvml_up}, expected [1]")
    return problems


def _check_info(series: Series, backend: str, problems: list[str]) -> set[tuple[str | None, str | None]]:
    gpus: set[tuple[str | None, str | None]] = set()
    for labels, value in _named(series, "nvidia_gpu_info"):
        gpus.add((labels.get("gpu"), labels.get("uuid")))
        if value != 1 or labels.get("backend") != backend:
            problems.append(f"nvidia_gpu_info{labels} = {value}, expected 1 with backend={backend!r}")
        if not (labels.get("gpu") or "").isdigit() or not (labels.get("uuid") or "").startswith("GPU-"):
            problems.append(f"nvidia_gpu_info{labels}: gpu must be an index and uuid a GPU UUID")
        if not labels.get("name") or not labels.get("driver_version"):
            problems.append(f"nvidia_gpu_info{labels}: name and driver_version must be set")
    if not gpus:
        problems.append("no nvidia_gpu_info series: no GPU reported")
    if len({uuid for _, uuid in gpus}) != len(gpus):
        problems.append("two GPUs share a UUID")
    return gpus


def _by_gpu(series: Series, name: str) -> dict[tuple[str, str], float]:
    return {(lbl["gpu"], lbl["uuid"]): v for lbl, v in _named(series, name)}


def _check_physics(series: Series) -> list[str]:
    problems = []
    used, total = (
        _by_gpu(series, "nvidia_gpu_memory_used_bytes"),
        _by_gpu(series, "nvidia_gpu_memory_total_bytes"),
    )
    reserved = _by_gpu(series, "nvidia_gpu_memory_reserved_bytes")
    for gpu, value in used.items():
        if not 0 <= value <= total.get(gpu, -1) or total[gpu] <= 0:
            problems.append(f"GPU {gpu}: memory used {value} not within total {total.get(gpu)}")
        if reserved.get(gpu, 0) > total.get(gpu, 0):
            problems.append(f"GPU {gpu}: reserved memory exceeds total")
    power, limit = _by_gpu(series, "nvidia_gpu_power_watts"), _by_gpu(series, "nvidia_gpu_power_limit_watts")
    for gpu, value in power.items():
        if value < 0 or (gpu in limit and value > 2 * limit[gpu]):
            problems.append(f"GPU {gpu}: power {value} W against limit {limit.get(gpu)} W")
    for gpu, value in _by_gpu(series, "nvidia_gpu_temperature_celsius").items():
        if not -20 <= value <= 130:
            problems.append(f"GPU {gpu}: temperature {value} C")
    for name in ("nvidia_gpu_sm_clock_hertz", "nvidia_gpu_memory_clock_hertz"):
        for gpu, value in _by_gpu(series, name).items():
            if not 0 < value < 20e9:
                problems.append(f"GPU {gpu}: {name} = {value}")
    for gpu, value in _by_gpu(series, "nvidia_gpu_performance_state").items():
        if value not in range(16):
            problems.append(f"GPU {gpu}: performance state {value}")
    for name in ("nvidia_gpu_pcie_bytes_total", "nvidia_gpu_pcie_throughput_bytes_per_second"):
        for labels, value in _named(series, name):
            if labels.get("direction") not in ("tx", "rx") or value < 0:
                problems.append(f"{name} {labels} = {value}")
    for labels, _ in _named(series, "nvidia_gpu_xid_errors_total"):
        if not labels.get("xid", "").isdigit():
            problems.append(f"xid label {labels}")
    return problems


def _check_clock_events(series: Series) -> list[str]:
    reasons: dict[tuple[str, str], set[str]] = defaultdict(set)
    problems = []
    for labels, value in _named(series, "nvidia_gpu_clock_event_active"):
        reasons[(labels["gpu"], labels["uuid"])].add(labels["reason"])
        if value not in (0, 1):
            problems.append(f"clock event {labels} = {value}")
    problems += [
        f"GPU {g}: clock event reasons {sorted(r)}" for g, r in reasons.items() if r != CLOCK_EVENT_REASONS
    ]
    return problems


def _check_mig(series: Series) -> list[str]:
    instances = {lbl["mig_uuid"] for lbl, _ in _named(series, "nvidia_gpu_mig_instance_info")}
    used = {lbl["mig_uuid"]: v for lbl, v in _named(series, "nvidia_gpu_mig_memory_used_bytes")}
    total = {lbl["mig_uuid"]: v for lbl, v in _named(series, "nvidia_gpu_mig_memory_total_bytes")}
    problems = [
        f"MIG memory for unknown instance {mig}" for mig in set(used) | set(total) if mig not in instances
    ]
    problems += [
        f"MIG {mig}: used {v} > total {total.get(mig)}" for mig, v in used.items() if v > total.get(mig, 0)
    ]
    return problems


def check_progress(first: str, second: str, elapsed_seconds: float | None = None) -> list[str]:
    """Counters never go down between two scrapes; busy time never grows faster than wall time."""
    before, after = parse(first), parse(second)
    problems = []
    for (name, labels), value in after.items():
        if name.startswith(COUNTERS) and (name, labels) in before and value < before[(name, labels)]:
            problems.append(f"{name}{dict(labels)} went down: {before[(name, labels)]} -> {value}")
        busy = name == "nvidia_gpu_busy_seconds_total" and (name, labels) in before
        # One driver sample period (at most 1 s) of slack: samples land on the driver's own clock.
        if busy and elapsed_seconds is not None and value - before[(name, labels)] > elapsed_seconds + 1.0:
            problems.append(f"{name}{dict(labels)} grew faster than wall time")
    return problems

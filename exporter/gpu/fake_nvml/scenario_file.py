"""Scenario files for the fake NVML: YAML in, validated `Scenario` out, every problem reported at once.

Format (times are seconds since the fake was created; ratios are 0-1; unknown keys are errors):

    description: text                      driver_version: "550.90.07"    cuda_driver_version: 12040
    sample_interval: 0.1667                # driver utilization sample period
    missing_functions: [nvmlDeviceGetTemperatureV, nvmlDeviceGetMemoryInfo_v2]   # FunctionNotFound
    init_error: {kind: driver_not_loaded, until: 10}     # nvmlInit fails (until omitted: for ever)
    hang: {function: nvmlDeviceGetPowerUsage, at: 5, gpu: 1}   # blocks until FakeNvml.release()
    gpus:
      - count: 8                           # copies; process pids step by the copy's position
        model: H100-SXM5-80GB              # exporter.gpu.fake_nvml.models.MODELS
        utilization: 0.9 | {steps: [[0, 0.0], [10, 1.0]], repeat: 60} | {wave: {low, high, period}}
        memory_utilization: <same forms>   memory_used_gib: 70
        unsupported: [ecc, pcie]           no_permission: [power_limit]     # models.FIELD_FUNCTIONS
        clock_events: [sw_power_cap]       # held all the time; gpu_idle is added while utilization is 0
        ecc: {corrected_volatile, corrected_aggregate, uncorrected_volatile, uncorrected_aggregate}
        remapped_rows: {correctable, uncorrectable, pending, failure}
        retired_pages: {single_bit, double_bit, pending}
        pcie_replays: 0                    # the PCIe replay counter field value
        xid: [{at: 60, xid: 79}]           lost_at: 61
        processes: [{pid: 41000, used_memory_gib: 70, sm_util: 0.9}]
        mig: [{profile: 3g.40gb, memory_used_gib: 20, processes: [...]}]   # present: MIG mode on
             # optional per device: slot (its nvmlDeviceGetMigDeviceHandleByIndex index, default its
             # position; others stay empty), gpu_instance (default slot + 1), compute_instance (default 0)
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any

import yaml

from exporter.gpu.fake_nvml.ids import url_uuid5
from exporter.gpu.fake_nvml.models import FIELD_FUNCTIONS, GIB, MODELS
from exporter.gpu.fake_nvml.patterns import Pattern, pattern
from exporter.gpu.fake_nvml.scenario import FakeGpu, FakeMig, FakeProcess, Hang, Scenario
from exporter.validate import Section

SCENARIO_DIR = Path(__file__).resolve().parent.parent / "scenarios"
CLOCK_EVENTS = (
    "gpu_idle", "applications_clocks", "sw_power_cap", "hw_slowdown", "sync_boost",
    "sw_thermal", "hw_thermal", "hw_power_brake", "display_clock",
)  # fmt: skip
ECC_COUNTERS = ("corrected_volatile", "corrected_aggregate", "uncorrected_volatile", "uncorrected_aggregate")
INIT_ERRORS = ("driver_not_loaded", "library_not_found", "lib_rm_version_mismatch", "no_permission")


class ScenarioError(Exception):
    """A scenario that cannot be used; the message names the file and every problem."""


def resolve(name_or_path: str) -> Path:
    """A shipped scenario by name (`h100-8x`), or a path to a YAML file."""
    if "/" in name_or_path or name_or_path.endswith((".yaml", ".yml")):
        return Path(name_or_path)
    return SCENARIO_DIR / f"{name_or_path}.yaml"


def shipped() -> list[str]:
    return sorted(p.stem for p in SCENARIO_DIR.glob("*.yaml"))


def load(name_or_path: str) -> Scenario:
    """Read and validate a scenario; raise ScenarioError naming the file and every problem."""
    path = resolve(name_or_path)
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        known = ", ".join(shipped())
        raise ScenarioError(f"scenario {name_or_path!r}: no such file {path} (shipped: {known})") from None
    except OSError as exc:
        raise ScenarioError(f"scenario {path}: cannot read: {exc.strerror}") from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" line {mark.line + 1}" if mark else ""
        raise ScenarioError(f"scenario {path}{where}: not valid YAML") from None
    problems: list[str] = []
    scenario = parse(data, path.stem, problems)
    if problems:
        raise ScenarioError(f"scenario {path}: {'; '.join(problems)}")
    return scenario


def parse(data: Any, name: str, problems: list[str]) -> Scenario:
    root = Section(data, "", problems)
    functions = {f for fs in FIELD_FUNCTIONS.values() for f in fs} | {"nvmlDeviceGetMemoryInfo_v2"}
    missing = root.strings("missing_functions")
    for function in missing:
        if function not in functions:
            root.problem("missing_functions", f"unknown function {function!r}")
    gpus: list[FakeGpu] = []
    for group in root.sections("gpus"):
        count = group.integer("count", 1, minimum=1)
        spec = _GpuSpec(group, name, count)
        first = len(gpus)
        gpus.extend(spec.build(first + i, i) for i in range(count))
    if not gpus and not problems:
        root.problem("gpus", "at least one GPU is required")
    scenario = Scenario(
        name=name,
        description=root.string("description", "") or "",
        driver_version=root.string("driver_version", "550.90.07") or "",
        cuda_driver_version=root.integer("cuda_driver_version", 12040, minimum=1000),
        sample_interval=root.number("sample_interval", 1 / 6, positive=True),
        gpus=tuple(gpus),
        missing_functions=frozenset(missing),
        hang=_hang(root, functions, len(gpus)),
        init_error=_init_error(root),
    )
    root.reject_unknown()
    return scenario


def _hang(root: Section, functions: set[str], gpu_count: int) -> Hang | None:
    if not root.has("hang"):
        return None
    section = root.section("hang")
    function = section.string("function", "") or ""
    if function not in functions | {"nvmlInit", "nvmlDeviceGetCount", "nvmlDeviceGetHandleByIndex"}:
        section.problem("function", f"unknown function {function!r}")
    gpu = section.integer("gpu", -1, minimum=0) if section.has("gpu") else None
    if gpu is not None and gpu >= gpu_count:
        section.problem("gpu", f"no GPU {gpu} (the scenario has {gpu_count})")
    hang = Hang(function, section.number("at", 0.0, minimum=0), gpu)
    section.reject_unknown()
    return hang


def _init_error(root: Section) -> tuple[str, float | None] | None:
    if not root.has("init_error"):
        return None
    section = root.section("init_error")
    kind = section.string("kind", "driver_not_loaded", choices=INIT_ERRORS) or "driver_not_loaded"
    until = section.number("until", 0.0, minimum=0) if section.has("until") else None
    section.reject_unknown()
    return kind, until


def _processes(section: Section, key: str) -> tuple[FakeProcess, ...]:
    processes = []
    for entry in section.sections(key):
        sm = entry.number("sm_util", 0.0, minimum=0)
        if sm > 1:
            entry.problem("sm_util", f"must be a ratio from 0 to 1, got {sm!r}")
        processes.append(
            FakeProcess(
                pid=entry.integer("pid", 1, minimum=1),
                used_memory_bytes=int(entry.number("used_memory_gib", 0.0, minimum=0) * GIB),
                sm_ratio=min(sm, 1.0),
            )
        )
        entry.reject_unknown()
    return tuple(processes)


def _shifted(processes: tuple[FakeProcess, ...], offset: int) -> tuple[FakeProcess, ...]:
    # The copies of a `count: N` entry run one process set each: pids step by the copy's position.
    return tuple(replace(p, pid=p.pid + offset) for p in processes)


class _GpuSpec:
    """One `gpus:` entry, validated once and expanded `count` times."""

    def __init__(self, section: Section, scenario: str, count: int) -> None:
        self.scenario = scenario
        key = section.string("model", "") or ""
        if key not in MODELS:
            section.problem("model", f"unknown model {key!r} (known: {', '.join(MODELS)})")
        self.model = model = MODELS.get(key) or next(iter(MODELS.values()))
        self.unsupported = _names(section, "unsupported", tuple(FIELD_FUNCTIONS), "field")
        self.no_permission = _names(section, "no_permission", tuple(FIELD_FUNCTIONS), "field")
        self.events = _names(section, "clock_events", CLOCK_EVENTS, "reason")
        self.utilization = pattern(section, "utilization", Pattern()) or Pattern()
        self.memory_utilization = pattern(section, "memory_utilization", None)
        self.processes = _processes(section, "processes")
        default_used = 0.5 + sum(p.used_memory_bytes for p in self.processes) / GIB
        used = section.number("memory_used_gib", default_used, minimum=0)
        self.memory_used = min(int(used * GIB), model.memory_total_bytes - model.memory_reserved_bytes)
        self.ecc = dict(zip(ECC_COUNTERS, _fields(section, "ecc", ECC_COUNTERS), strict=True))
        correctable, uncorrectable, pending, failure = _fields(
            section, "remapped_rows", ("correctable", "uncorrectable"), ("pending", "failure")
        )
        self.rows = (int(correctable), int(uncorrectable), bool(pending), bool(failure))
        pages = _fields(section, "retired_pages", ("single_bit", "double_bit"), ("pending",))
        single, double, pages_pending = pages
        self.pages = (int(single), int(double), bool(pages_pending))
        self.pcie_replays = section.integer("pcie_replays", 0, minimum=0)
        xids = []
        for entry in section.sections("xid"):
            xids.append((entry.number("at", 0.0, minimum=0), entry.integer("xid", 1, minimum=1)))
            entry.reject_unknown()
        self.xids = tuple(xids)
        self.lost_at = section.number("lost_at", 0.0, minimum=0) if section.has("lost_at") else None
        self.uuid = section.string("uuid")
        if self.uuid and count > 1:
            section.problem("uuid", "a fixed uuid needs count: 1")
        self.mig: tuple[FakeMig, ...] | None = None
        if section.has("mig"):
            if not model.mig_profiles:
                section.problem("mig", f"{model.key} has no MIG")
            entries = section.sections("mig")
            self.mig = tuple(self._mig_device(entry, position) for position, entry in enumerate(entries))
            if len(self.mig) > model.max_mig_devices:
                section.problem("mig", f"at most {model.max_mig_devices} MIG devices, got {len(self.mig)}")
            slots = [m.slot for m in self.mig]
            if len(set(slots)) != len(slots):
                section.problem("mig", f"two MIG devices in one slot: {slots}")
        section.reject_unknown()

    def _mig_device(self, entry: Section, position: int) -> FakeMig:
        slot = entry.integer("slot", position, minimum=0)
        if slot >= self.model.max_mig_devices:
            entry.problem("slot", f"must be below {self.model.max_mig_devices}, got {slot}")
        profile = entry.string("profile", "") or ""
        if profile not in self.model.mig_profiles:
            known = ", ".join(self.model.mig_profiles)
            entry.problem("profile", f"unknown {self.model.key} MIG profile {profile!r} (known: {known})")
        total = self.model.mig_profiles.get(profile, GIB)
        processes = _processes(entry, "processes")
        default_used = sum(p.used_memory_bytes for p in processes) / GIB
        mig = FakeMig(
            slot=slot,
            profile=profile,
            gpu_instance=entry.integer("gpu_instance", slot + 1, minimum=0),
            compute_instance=entry.integer("compute_instance", 0, minimum=0),
            memory_total_bytes=total,
            memory_used_bytes=min(int(entry.number("memory_used_gib", default_used, minimum=0) * GIB), total),
            processes=processes,
        )
        entry.reject_unknown()
        return mig

    def build(self, index: int, position: int) -> FakeGpu:
        model = self.model
        migs = None
        if self.mig is not None:
            migs = tuple(replace(m, processes=_shifted(m.processes, position)) for m in self.mig)
        return FakeGpu(
            index=index,
            model=model,
            uuid=self.uuid or f"GPU-{url_uuid5(f'mlobs-fake/{self.scenario}/{index}')}",
            pci_bus_id=f"00000000:{(0x18 + 0x11 * index) % 0x100:02X}:00.0",
            utilization=self.utilization,
            memory_utilization=self.memory_utilization,
            memory_used_bytes=self.memory_used,
            clock_events=self.events,
            ecc=self.ecc,
            remapped_rows=self.rows,
            retired_pages=self.pages,
            pcie_replays=self.pcie_replays,
            unsupported=model.unsupported | self.unsupported,
            no_permission=self.no_permission,
            mig=migs,
            xids=self.xids,
            lost_at=self.lost_at,
            processes=_shifted(self.processes, position),
        )


def _fields(
    section: Section, key: str, counts: tuple[str, ...], flags: tuple[str, ...] = ()
) -> list[int | bool]:
    """A mapping of counters (integers >= 0, default 0) and flags (default false), in the order given."""
    sub = section.section(key)
    values: list[int | bool] = [sub.integer(name, 0, minimum=0) for name in counts]
    values += [sub.boolean(name, False) for name in flags]
    sub.reject_unknown()
    return values


def _names(section: Section, key: str, known: tuple[str, ...], what: str) -> frozenset[str]:
    names = section.strings(key)
    for name in names:
        if name not in known:
            section.problem(key, f"unknown {what} {name!r} (known: {', '.join(known)})")
    return frozenset(names)

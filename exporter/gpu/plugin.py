"""The `gpu` plugin: flags, config section and construction of the GPU collector on NVML or the fake."""

from __future__ import annotations

import argparse
import logging
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from exporter.gpu.collector import GpuCollector
from exporter.gpu.fake_nvml import FakeNvml, Scenario, ScenarioError, load
from exporter.gpu.nvml import NvmlSource
from exporter.plugin import BuildContext
from exporter.textsafe import safe_message
from exporter.validate import Section

log = logging.getLogger("exporter.gpu")

BACKENDS = ("nvml", "fake", "auto")
DEFAULT_SCENARIO = "h100-8x"


@dataclass
class GpuSettings:
    backend: str
    scenario_name: str
    scenario: Scenario | None  # loaded (and validated) up front for the fake and auto backends
    call_timeout: float
    xid_events: bool
    pcie_throughput_sampling: bool


class GpuPlugin:
    name = "gpu"
    default_enabled = True
    description = "NVIDIA GPUs through NVML"

    def add_flags(self, parser: argparse.ArgumentParser) -> None:
        parser.add_argument(
            "--gpu.backend", dest="gpu_backend", default=None,
            help="nvml|fake|auto (default nvml; auto: the fake h100-8x scenario when no driver is found)",
        )  # fmt: skip
        parser.add_argument(
            "--gpu.fake-scenario", dest="gpu_fake_scenario", default=None,
            help=f"scenario name or YAML path for the fake backend (default {DEFAULT_SCENARIO})",
        )  # fmt: skip
        parser.add_argument(
            "--gpu.call-timeout", dest="gpu_call_timeout", default=None,
            help="seconds a scrape waits for NVML before giving up (default 2)",
        )  # fmt: skip
        parser.add_argument(
            "--gpu.xid-events", dest="gpu_xid_events", action=argparse.BooleanOptionalAction, default=None,
            help="watch XID critical errors on an event thread (default on)",
        )  # fmt: skip
        parser.add_argument(
            "--gpu.pcie-throughput-sampling", dest="gpu_pcie_throughput_sampling",
            action=argparse.BooleanOptionalAction, default=None,
            help="also export nvidia_gpu_pcie_throughput_bytes_per_second (default off). Costs about "
            "20 ms of driver sampling per GPU and direction on every scrape (320 ms with 8 GPUs); "
            "rate(nvidia_gpu_pcie_bytes_total) gives the same throughput for free",
        )  # fmt: skip

    def configure(
        self, args: argparse.Namespace, section: Section, environ: Mapping[str, str], enabled: bool
    ) -> GpuSettings:
        problems = section.problems
        backend = section.string("backend", "nvml", choices=BACKENDS) or "nvml"
        if args.gpu_backend is not None:
            backend = args.gpu_backend
            if backend not in BACKENDS:
                problems.append(f"--gpu.backend: {backend!r} is not one of {', '.join(BACKENDS)}")
        scenario_name = section.string("fake_scenario", DEFAULT_SCENARIO) or DEFAULT_SCENARIO
        chosen = args.gpu_fake_scenario is not None or section.has("fake_scenario")
        scenario_name = args.gpu_fake_scenario or scenario_name
        call_timeout = section.number("call_timeout", 2.0, positive=True)
        if args.gpu_call_timeout is not None:
            call_timeout = _seconds(args.gpu_call_timeout, "--gpu.call-timeout", problems, call_timeout)
        xid_events = section.boolean("xid_events", True)
        if args.gpu_xid_events is not None:
            xid_events = args.gpu_xid_events
        pcie_sampling = section.boolean("pcie_throughput_sampling", False)
        if args.gpu_pcie_throughput_sampling is not None:
            pcie_sampling = args.gpu_pcie_throughput_sampling
        scenario = None
        if chosen and backend == "nvml":
            problems.append("--gpu.fake-scenario: only used with --gpu.backend=fake or auto")
        elif enabled and backend in ("fake", "auto"):
            try:
                scenario = load(scenario_name)
            except ScenarioError as exc:
                problems.append(f"--gpu.fake-scenario: {safe_message(exc)}")
        return GpuSettings(backend, scenario_name, scenario, call_timeout, xid_events, pcie_sampling)

    def build(self, settings: GpuSettings, ctx: BuildContext) -> GpuCollector:
        module, backend = self._module(settings, ctx)
        ctx.build_labels["gpu_backend"] = backend
        source = NvmlSource(
            module,
            call_timeout=settings.call_timeout,
            clock=ctx.clock,
            wall_clock=ctx.wall_clock,
            xid_events=settings.xid_events,
            pcie_sampling=settings.pcie_throughput_sampling,
        )
        source.start()
        return GpuCollector(source, ctx.node_name, backend)

    @staticmethod
    def _module(settings: GpuSettings, ctx: BuildContext) -> tuple[Any, str]:
        if settings.backend != "fake":
            import pynvml  # imported here so the fake backend never loads the real bindings

            if settings.backend == "nvml":
                return pynvml, "nvml"
            try:  # auto: probe for a driver; the source initialises NVML again on its own thread
                pynvml.nvmlInit()
                pynvml.nvmlShutdown()
                return pynvml, "nvml"
            except pynvml.NVMLError as exc:
                reason = f"no NVIDIA driver found ({exc})"
        else:
            reason = "--gpu.backend=fake"
        scenario = settings.scenario
        assert scenario is not None
        log.warning(
            "GPU data is SIMULATED, not real hardware: %s; serving the fake scenario %s (%s) "
            "with backend=\"fake\" on every GPU series",
            reason, settings.scenario_name, scenario.description or f"{len(scenario.gpus)} GPUs",
        )  # fmt: skip
        return FakeNvml(scenario, clock=ctx.clock), "fake"


def _seconds(text: str, flag: str, problems: list[str], default: float) -> float:
    try:
        value = float(text.removesuffix("s"))
    except ValueError:
        value = -1.0
    if not 0 < value < float("inf"):
        problems.append(f"{flag}: {text!r} is not a positive number of seconds")
        return default
    return value


GPU_PLUGIN = GpuPlugin()

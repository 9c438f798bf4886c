"""The `gpu` plugin: its options, and construction of the GPU collector on NVML or the fake."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from exporter.option_values import Values
from exporter.options import Boolean, Duration, Option, Text
from exporter.plugin import BuildContext
from exporter.textsafe import safe_message

if TYPE_CHECKING:
    from exporter.gpu.collector import GpuCollector
    from exporter.gpu.fake_nvml import Scenario

log = logging.getLogger("exporter.gpu")

BACKENDS = ("nvml", "fake", "auto")
DEFAULT_SCENARIO = "h100-8x"

OPTIONS = (
    Option(
        "backend", Text(choices=BACKENDS), "nvml",
        "where GPU data comes from; auto serves the fake h100-8x scenario when no driver is found "
        "(demos only)",
    ),
    Option(
        "fake_scenario", Text(), DEFAULT_SCENARIO,
        "with backend fake or auto: a scenario name from exporter/gpu/scenarios/ or a YAML path",
        commented=True,
    ),
    Option(
        "call_timeout", Duration(), 2.0,
        "how long a scrape waits for NVML before giving up; a hung driver call never blocks /metrics",
    ),
    Option("xid_events", Boolean(), True, "watch XID critical errors on NVML's event thread"),
    Option(
        "pcie_throughput_sampling", Boolean(), False,
        "also export nvidia_gpu_pcie_throughput_bytes_per_second. Costs about 20 ms of driver sampling per "
        "GPU and direction on every scrape (320 ms with 8 GPUs); rate(nvidia_gpu_pcie_bytes_total) gives "
        "the same throughput for free",
    ),
)  # fmt: skip


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
    options: tuple[Option, ...] = OPTIONS
    requires: tuple[str, ...] = ()
    uses: tuple[str, ...] = ()

    def configure(self, values: Values, environ: Mapping[str, str], enabled: bool) -> GpuSettings:
        backend = values["backend"]
        scenario_name = values["fake_scenario"] or DEFAULT_SCENARIO
        scenario = None
        if values.given("fake_scenario") and backend == "nvml":
            values.problem("fake_scenario", "only used with --gpu.backend=fake or auto")
        elif enabled and backend in ("fake", "auto"):
            from exporter.gpu.fake_nvml import ScenarioError, load  # the fake only when it may serve

            try:
                scenario = load(scenario_name)
            except ScenarioError as exc:
                values.problem("fake_scenario", safe_message(exc))
        return GpuSettings(
            backend,
            scenario_name,
            scenario,
            values["call_timeout"],
            values["xid_events"],
            values["pcie_throughput_sampling"],
        )

    def build(self, settings: GpuSettings, ctx: BuildContext) -> GpuCollector:
        from exporter.gpu.collector import GpuCollector
        from exporter.gpu.nvml import NvmlSource

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
        from exporter.gpu.fake_nvml import FakeNvml

        return FakeNvml(scenario, clock=ctx.clock), "fake"


GPU_PLUGIN = GpuPlugin()

"""Shared set-up for the GPU tests: a source over the fake NVML on a manual clock, and rendering it."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from exporter.collector import IsolatingCollector
from exporter.gpu.collector import GpuCollector
from exporter.gpu.fake_nvml import FakeNvml, ManualClock, load
from exporter.gpu.nvml import Backoff, NvmlSource

FIXTURES = Path(__file__).resolve().parent / "fixtures" / "gpu"
WALL = 1_750_000_000.0


def fixture(name: str) -> str:
    return str(FIXTURES / f"{name}.yaml")


@dataclass
class Rig:
    clock: ManualClock
    fake: FakeNvml
    source: NvmlSource
    collector: GpuCollector

    def scrape(self) -> str:
        """One scrape through the isolation wrapper: the page `/metrics` serves."""
        labels = {"version": "test", "python_version": "3", "node": "node-a", "gpu_backend": "fake"}
        return IsolatingCollector([self.collector], labels).render().decode()


@contextlib.contextmanager
def rig(
    scenario: str,
    call_timeout: float = 2.0,
    xid_events: bool = False,
    backoff: Backoff | None = None,
    pcie_sampling: bool = False,
) -> Iterator[Rig]:
    clock = ManualClock()
    fake = FakeNvml(load(scenario), clock=clock)
    wall = {"now": WALL}

    def wall_clock() -> float:
        return wall["now"] + clock()

    source = NvmlSource(
        fake,
        call_timeout=call_timeout,
        clock=clock,
        wall_clock=wall_clock,
        xid_events=xid_events,
        backoff=backoff,
        event_wait_ms=50,  # re-initialisation waits for the event thread's current wait to end
        pcie_sampling=pcie_sampling,
    )
    try:
        yield Rig(clock, fake, source, GpuCollector(source, "node-a", "fake"))
    finally:
        fake.release()
        source.close()

"""A minimal plugin for testing the exporter's mechanics without any upstream."""

from __future__ import annotations

import argparse
import threading
from collections.abc import Mapping
from dataclasses import dataclass

from exporter.catalogue import core
from exporter.catalogue.families import FamilySet
from exporter.catalogue.spec import MetricSpec
from exporter.collector import Health
from exporter.plugin import BuildContext
from exporter.validate import Section

DUMMY_VALUE = MetricSpec("dummy_value", "gauge", "A test value.", ("source",))


@dataclass
class DummySettings:
    mode: str
    delay: float


class DummyCollector:
    """Emits one series; `mode` makes it succeed, raise, or block until released."""

    def __init__(self, name: str, settings: DummySettings) -> None:
        self.name = name
        self.settings = settings
        self.release = threading.Event()
        self.closed = False
        self.collects = 0

    def collect(self, out: FamilySet) -> bool:
        self.collects += 1
        if self.settings.mode == "raise":
            out.add(core.COLLECTOR_SUCCESS, 42, collector="partial-output-must-be-dropped")
            raise RuntimeError("upstream exploded")
        if self.settings.mode == "block":
            self.release.wait(self.settings.delay)
        out.add(DUMMY_VALUE, 0.5, source=self.name)
        return self.settings.mode != "partial"

    def health(self) -> Health:
        return Health(self.settings.mode != "unhealthy", f"mode={self.settings.mode}")

    def close(self) -> None:
        self.closed = True


class DummyPlugin:
    def __init__(self, name: str = "dummy", default_enabled: bool = True) -> None:
        self.name = name
        self.default_enabled = default_enabled
        self.description = f"{name} test collector"
        self.built: list[DummyCollector] = []

    def add_flags(self, parser: argparse.ArgumentParser) -> None:
        parser.add_argument(f"--{self.name}.mode", dest=f"{self.name}_mode", default=None)

    def configure(
        self, args: argparse.Namespace, section: Section, environ: Mapping[str, str], enabled: bool
    ) -> DummySettings:
        mode = getattr(args, f"{self.name}_mode") or section.string(
            "mode", "ok", choices=("ok", "raise", "partial", "block", "unhealthy")
        )
        return DummySettings(mode=mode or "ok", delay=section.number("delay", 5.0, positive=True))

    def build(self, settings: DummySettings, ctx: BuildContext) -> DummyCollector:
        collector = DummyCollector(self.name, settings)
        self.built.append(collector)
        return collector

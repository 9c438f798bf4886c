"""A minimal plugin for testing the exporter's mechanics without any upstream."""

from __future__ import annotations

import threading
from collections.abc import Mapping
from dataclasses import dataclass

from exporter.catalogue import core
from exporter.catalogue.families import FamilySet
from exporter.catalogue.spec import MetricSpec
from exporter.collector import Health
from exporter.option_values import Values
from exporter.options import Duration, Option, Text
from exporter.plugin import BuildContext

DUMMY_VALUE = MetricSpec("dummy_value", "gauge", "A test value.", ("source",))
MODES = ("ok", "raise", "partial", "block", "unhealthy")
OPTIONS = (
    Option("mode", Text(choices=MODES), "ok", "how the collector behaves"),
    Option("delay", Duration(), 5.0, "how long `block` blocks", flag=None),
)


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
    options = OPTIONS

    def __init__(
        self,
        name: str = "dummy",
        default_enabled: bool = True,
        requires: tuple[str, ...] = (),
        uses: tuple[str, ...] = (),
    ) -> None:
        self.name = name
        self.default_enabled = default_enabled
        self.description = f"{name} test collector"
        self.requires = requires
        self.uses = uses
        self.built: list[DummyCollector] = []

    def configure(self, values: Values, environ: Mapping[str, str], enabled: bool) -> DummySettings:
        return DummySettings(mode=values["mode"], delay=values["delay"])

    def build(self, settings: DummySettings, ctx: BuildContext) -> DummyCollector:
        collector = DummyCollector(self.name, settings)
        self.built.append(collector)
        return collector

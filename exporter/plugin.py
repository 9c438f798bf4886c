"""How a collector plugs into the exporter: its flags, its config section, and how it is built.

Adding an upstream means one plugin object and one line in `exporter.plugins.PLUGINS`; the CLI,
config validation and composition root pick it up from there.
"""

from __future__ import annotations

import argparse
import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

from exporter.collector import Collector
from exporter.validate import Section


@dataclass
class BuildContext:
    """What every collector may use at build time; boundaries are injected here so tests can swap them."""

    node_name: str
    environ: Mapping[str, str]
    clock: Callable[[], float] = time.monotonic
    wall_clock: Callable[[], float] = time.time
    # Collectors built so far, by name, for collectors that join others' data (attribution).
    built: dict[str, Collector] = field(default_factory=dict)
    # Labels for mlobs_build_info that collectors may fill in (gpu_backend).
    build_labels: dict[str, str] = field(default_factory=dict)
    log: logging.Logger = field(default_factory=lambda: logging.getLogger("exporter"))


class Plugin(Protocol):
    name: str
    default_enabled: bool
    description: str

    def add_flags(self, parser: argparse.ArgumentParser) -> None:
        """Add `--<name>.*` flags. Give every flag `default=None` so the config file can fill it."""

    def configure(
        self, args: argparse.Namespace, section: Section, environ: Mapping[str, str], enabled: bool
    ) -> Any:
        """Merge flags over the config section into settings; report problems through `section`.

        Requirements that only matter when the collector runs (a tracking URI, say) are checked
        only when `enabled`; malformed values are problems either way."""

    def build(self, settings: Any, ctx: BuildContext) -> Collector:
        """Create the collector (and start any background thread it owns)."""

"""How a collector plugs into the exporter: its options, its dependencies, and how it is built.

Adding an upstream means one plugin object and one line in `exporter.plugins.PLUGINS`; the flags,
config validation, `--help`, the config docs and the composition root are derived from there.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

from exporter.collector import Collector
from exporter.option_values import Values
from exporter.options import Option


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
    # Each option declared once: its config key under `<name>:`, its flag, type, default and help.
    options: tuple[Option, ...]
    # Plugins that must be on when this one is (a config problem otherwise); built before it.
    requires: tuple[str, ...]
    # Plugins this one reads when they are on; built before it.
    uses: tuple[str, ...]

    def configure(self, values: Values, environ: Mapping[str, str], enabled: bool) -> Any:
        """Turn the merged option values into settings; report cross-field problems through `values`.

        Requirements that only matter when the collector runs (a tracking URI, say) are checked
        only when `enabled`; malformed values are problems either way (the merge reports those)."""

    def build(self, settings: Any, ctx: BuildContext) -> Collector:
        """Create the collector (and start any background thread it owns)."""

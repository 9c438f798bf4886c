"""The bundle config the stack runs with: the user's (or the packaged) one, with every duration that makes a
person wait shortened, found by key name so that keys added later are shortened too."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml

from bundle.checks import duration_seconds
from bundle.config import defaults
from bundle.schema import BundleConfig, load_config

# Windows of rate() in rules: at least 4 scrape intervals of 1 s, short enough to follow a fault in seconds.
RATE_WINDOW = "30s"
XID_WINDOW = "1m"
# Every `*_for` below a day (a day or more means "no success for 2d": shortened, it would fire at once);
# those of an hour or more (sustained underutilization) get longer, so an exporter restart is no incident.
PENDING = "10s"
PENDING_LONG = "2m"
SHORT = {"exporter": {"scrape_interval": "1s", "scrape_timeout": "1s"}}


def shortened(base: Mapping[str, Any]) -> dict[str, Any]:
    """The override that shortens `base`'s waits: rate windows, XID window, pending durations."""
    override: dict[str, Any] = {}
    for section, keys in base.items():
        if not isinstance(keys, Mapping):
            continue
        for key, value in keys.items():
            if not isinstance(value, str):
                continue
            if key == "rate_window":
                override.setdefault(section, {})[key] = RATE_WINDOW
            elif key == "xid_window":
                override.setdefault(section, {})[key] = XID_WINDOW
            elif key.endswith("_for") and (seconds := duration_seconds(value)) < 86400:
                override.setdefault(section, {})[key] = PENDING if seconds < 3600 else PENDING_LONG
    for section, keys in SHORT.items():
        override.setdefault(section, {}).update(keys)
    return override


def merged(*layers: Mapping[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for layer in layers:
        for key, value in layer.items():
            if isinstance(value, Mapping) and isinstance(out.get(key), dict):
                out[key] = merged(out[key], value)
            else:
                out[key] = value
    return out


def stack_config(folder: Path, extra: Mapping[str, Any] | None = None) -> tuple[BundleConfig, Path]:
    """The stack's config, written to `folder` as a partial override and loaded like `--config FILE`."""
    path = folder / "bundle-override.yaml"
    override = merged(shortened(defaults()), extra or {})
    path.write_text(yaml.safe_dump(override, sort_keys=True), encoding="utf-8")
    return load_config(path), path

"""Per-model tables of the drift and quality sections: the defaults with `models.overrides` merged in.

`models.overrides` is free-form ({model: {drift: {metrics: {psi: {critical: 0.4}}}}}); a model's entry for a
metric is merged key by key over the default entry, so an override names only what differs.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Literal

Table = Mapping[str, Mapping[str, Any]]
Section = Literal["drift", "quality"]
SECTIONS: tuple[Section, ...] = ("drift", "quality")


def metrics_for(
    defaults: Table, overrides: Mapping[str, Mapping[str, Any]], section: Section, model: str
) -> dict[str, dict[str, Any]]:
    """The metric table `model` is judged by: each default entry updated by the model's override."""
    table = {name: dict(entry) for name, entry in defaults.items()}
    entry = overrides.get(model, {})
    changes = entry.get(section, {}).get("metrics", {}) if isinstance(entry, Mapping) else {}
    for name, change in changes.items() if isinstance(changes, Mapping) else ():
        table.setdefault(name, {}).update(change if isinstance(change, Mapping) else {})
    return table

"""The shape of a metric declaration: every exported family is one `MetricSpec` in the catalogue."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

MetricType = Literal["gauge", "counter", "histogram"]


@dataclass(frozen=True)
class MetricSpec:
    """One metric family: its name as scraped, type, labels, unit and help text."""

    name: str
    type: MetricType
    help: str
    labels: tuple[str, ...] = ()
    unit: str = ""
    collector: str = ""

    def __post_init__(self) -> None:
        if self.type == "counter" and not self.name.endswith("_total"):
            raise ValueError(f"counter {self.name} must end in _total")
        if self.type != "counter" and self.name.endswith("_total"):
            raise ValueError(f"{self.type} {self.name} must not end in _total")

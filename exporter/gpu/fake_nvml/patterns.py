"""Utilization patterns over scenario time: a constant, steps (optionally repeating) or a smooth wave."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from exporter.validate import Section


@dataclass(frozen=True)
class Pattern:
    """A ratio (0-1) over time: constant, steps (optionally repeating) or a smooth wave."""

    steps: tuple[tuple[float, float], ...] = ((0.0, 0.0),)
    repeat: float | None = None
    wave: tuple[float, float, float] | None = None  # low, high, period

    def at(self, t: float) -> float:
        if self.wave is not None:
            low, high, period = self.wave
            return low + (high - low) * (0.5 - 0.5 * math.cos(2 * math.pi * t / period))
        if self.repeat:
            t %= self.repeat
        value = self.steps[0][1]
        for start, ratio in self.steps:
            if t < start:
                break
            value = ratio
        return value


def pattern(section: Section, key: str, default: Pattern | None) -> Pattern | None:
    """A number (constant ratio), {steps: [[t, ratio], ...], repeat: s} or {wave: {low, high, period}}."""
    if not section.has(key):
        return default
    raw = section.data[key]
    if isinstance(raw, int | float) and not isinstance(raw, bool):
        value = section.number(key, 0.0, minimum=0)
        if value > 1:
            section.problem(key, f"must be a ratio from 0 to 1, got {value!r}")
        return Pattern(steps=((0.0, min(value, 1.0)),))
    spec = section.section(key)
    if spec.has("wave"):
        wave = spec.section("wave")
        low, high = wave.number("low", 0.0, minimum=0), wave.number("high", 1.0, minimum=0)
        period = wave.number("period", 60.0, positive=True)
        if not low <= high <= 1:
            wave.problem("high", f"needs 0 <= low <= high <= 1, got low {low}, high {high}")
        wave.reject_unknown()
        spec.reject_unknown()
        return Pattern(wave=(low, min(high, 1.0), period))
    steps: list[tuple[float, float]] = []
    raw_steps = spec.data.get("steps")
    if not isinstance(raw_steps, list) or not raw_steps:
        spec.problem("steps", "must be a non-empty list of [seconds, ratio] pairs (or use wave:)")
    else:
        for i, step in enumerate(raw_steps):
            ok = isinstance(step, list) and len(step) == 2 and all(_is_number(v) for v in step)
            if not ok or not 0 <= step[1] <= 1 or step[0] < 0 or (steps and step[0] <= steps[-1][0]):
                spec.problem(
                    f"steps[{i}]", f"must be [seconds, ratio 0-1] after the step before, got {step!r}"
                )
                continue
            steps.append((float(step[0]), float(step[1])))
    repeat = spec.number("repeat", 0.0, positive=True) if spec.has("repeat") else None
    for unknown in set(spec.data) - {"steps", "repeat"}:
        spec.problem(str(unknown), "unknown key")
    return Pattern(steps=tuple(steps) or ((0.0, 0.0),), repeat=repeat)


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)

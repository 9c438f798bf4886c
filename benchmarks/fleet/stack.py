"""A fleet on real engines: generate each cluster's history, backfill it into that cluster's Prometheus,
import every cluster into one VictoriaMetrics (the cluster label added on import) and run vmalert there, all
on the rules `alerts.build(cfg)` returns now."""

from __future__ import annotations

import contextlib
import re
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import yaml

import alerts
from alerts.render import plain
from benchmarks.fleet import engines
from benchmarks.fleet.generate import write_cluster
from benchmarks.fleet.shape import Faults, Fleet, cluster_name
from bundle.schema import BundleConfig, duration_seconds

ENGINES = ("prometheus", "victoria-metrics")
_WINDOW = re.compile(r"\[(\d+[smhdwy])(?::\d*[smhdwy]?)?\]|offset\s+(\d+[smhdwy])")


def longest_window(cfg: BundleConfig) -> int:
    """Seconds of history the rules look back: the longest range, offset or `for` of any rule."""
    longest = 0
    for group in alerts.build(cfg):
        for rule in group.rules:
            spans = [a or b for a, b in _WINDOW.findall(rule.expr)]
            spans += [getattr(rule, "for_", "")]
            longest = max([longest, *(int(duration_seconds(s)) for s in spans if s)])
    return longest


@dataclass
class Timings:
    """Seconds each preparation step took, for the table."""

    steps: dict[str, float] = field(default_factory=dict)

    @contextlib.contextmanager
    def step(self, name: str) -> Iterator[None]:
        start = time.monotonic()
        yield
        self.steps[name] = self.steps.get(name, 0.0) + time.monotonic() - start


@dataclass
class Stack:
    """The running engines: one Prometheus per cluster name, VictoriaMetrics and vmalert (either side may be
    left out: no Prometheus, or neither VictoriaMetrics nor vmalert)."""

    fleet: Fleet
    faults: Faults
    prometheus: dict[str, engines.Engine]
    vm: engines.Engine | None
    vmalert: engines.Engine | None
    series: int
    timings: Timings

    def wait_evaluated(self, times: int = 3, seconds: float = 600) -> None:
        every = [*self.prometheus.values(), *([self.vmalert] if self.vmalert else [])]
        engines.wait_for(
            lambda: all(engines.rules_evaluated(e, times) for e in every),
            seconds,
            f"{times} rule evaluations",
        )


@contextlib.contextmanager
def running(
    fleet: Fleet, faults: Faults, cfg: BundleConfig, folder: Path, only: Sequence[str] = ENGINES
) -> Iterator[Stack]:
    """Every cluster generated, backfilled and imported; the engines running on the rules of `cfg`, whose
    naming.cluster_label names the cluster in VictoriaMetrics and in the external labels. `only` leaves an
    engine out ("prometheus", "victoria-metrics": VictoriaMetrics and vmalert), so that the other has the
    machine to itself and its preparation is skipped."""
    label = cfg.naming.cluster_label or "cluster"
    rules = folder / "rules.yaml"
    rules.write_text(yaml.safe_dump(plain(alerts.build(cfg)), sort_keys=False))
    timings, series = Timings(), 0
    with contextlib.ExitStack() as stack:
        vm = None
        if "victoria-metrics" in only:
            with timings.step("vm start"):
                vm = stack.enter_context(engines.victoria_metrics(folder))
        blocks: dict[str, Path] = {}
        for cluster in range(fleet.clusters):
            name = cluster_name(cluster)
            history = folder / f"{name}.om"
            with timings.step("generate"):
                series += write_cluster(fleet, cluster, faults, history)
            if "prometheus" in only:
                blocks[name] = folder / name / "blocks"
                with timings.step("backfill"):
                    engines.backfill(history, blocks[name])
            if vm is not None:
                with timings.step("vm import"):
                    engines.vm_import(vm, history, {label: name})
            history.unlink()
        proms = {}
        for name, path in blocks.items():
            with timings.step("prometheus start"):
                proms[name] = stack.enter_context(
                    engines.prometheus(path, rules, {label: name}, folder / name / "prometheus")
                )
        va = stack.enter_context(engines.vmalert(vm, rules, folder)) if vm is not None else None
        yield Stack(fleet, faults, proms, vm, va, series, timings)

"""The `experiments:` section: each free-form definition read into a typed `Experiment`, and its checks.

Definitions are a free-form mapping (users name their experiments), so their keys, defaults and rules live
here rather than in bundle.yaml; docs/experiments.md describes them.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, fields
from datetime import datetime
from typing import Any, Literal

from bundle.checks import DNS_LABEL, Checks, duration_seconds
from bundle.promql import spec
from bundle.sections import Experiments

Proportion = Literal["error_ratio", "slow_ratio", "custom"]
PROPORTIONS: tuple[Proportion, ...] = ("error_ratio", "slow_ratio", "custom")
ARMS = ("control", "treatment")
MAX_NAME = 24  # the rule group is named mlobs-experiment-<name>, at most 40 characters
# A counter selector: a metric name and optional matchers (what increase() can be applied to).
_SELECTOR = re.compile(r"^[a-zA-Z_:][a-zA-Z0-9_:]*(\{[^{}]*\})?$")
TFSERVING_REQUESTS = "tfserving_requests_total"
TFSERVING_LATENCY = "tfserving_request_duration_seconds"
# TF Serving's latency buckets: 10 us x 1.8^n, n = 0..32.
TFSERVING_BOUNDS = tuple(10 * 1.8**n / 1e6 for n in range(33))


@dataclass(frozen=True)
class Experiment:
    """One experiment: which proportion of which arms is compared, and the test's design."""

    name: str
    min_effect: float
    start: str
    duration: str
    model: str = ""
    control: str = ""
    treatment: str = ""
    arm_label: str = "version"
    proportion: Proportion = "error_ratio"
    slow_threshold_seconds: float = 0.0
    successes: str = ""
    trials: str = ""
    higher_is_better: bool = False
    alpha: float = 0.05
    power: float = 0.8
    planned_trials: Mapping[str, int] | None = None
    no_traffic_for: str = "30m"

    @property
    def start_seconds(self) -> float:
        """Unix time of `start`."""
        return datetime.fromisoformat(self.start.replace("Z", "+00:00")).timestamp()

    @property
    def end_seconds(self) -> float:
        """Unix time of the planned horizon, start + duration."""
        return self.start_seconds + duration_seconds(self.duration)

    def arm(self, arm: str) -> str:
        """The arm label's value for "control" or "treatment"."""
        return self.control if arm == "control" else self.treatment


_KEYS = frozenset(f.name for f in fields(Experiment)) - {"name"}
_REQUIRED = ("min_effect", "start", "duration", "control", "treatment")


def _read(name: str, values: Mapping[str, Any]) -> Experiment:
    # YAML reads an unquoted 2026-12-01T09:00:00Z as a datetime: keep its text form.
    start = values.get("start")
    text = start.isoformat() if isinstance(start, datetime) else start
    return Experiment(name=name, **{**values, "start": text})


def experiments(section: Experiments) -> list[Experiment]:
    """Typed experiments of a checked section, in name order."""
    return [_read(name, values) for name, values in sorted(section.definitions.items())]


def check_experiments(c: Checks, section: Experiments, uids: Sequence[str]) -> None:
    """Every problem of the experiments section, each named by its key."""
    c.require(
        bool(DNS_LABEL.match(section.dashboard_uid)), "experiments.dashboard_uid", "must be a lower-case slug"
    )
    c.require(section.dashboard_uid not in uids, "experiments.dashboard_uid", "must differ from other uids")
    c.duration("experiments.evaluation_interval", section.evaluation_interval)
    for name, values in section.definitions.items():
        key = f"experiments.definitions.{name}"
        ok = isinstance(name, str) and len(name) <= MAX_NAME and bool(DNS_LABEL.match(name))
        c.require(ok, key, f"name must be a DNS label of at most {MAX_NAME} characters")
        if not isinstance(values, Mapping):
            c.require(False, key, "must be a mapping")
            continue
        unknown = sorted(set(values) - _KEYS)
        c.require(not unknown, key, f"unknown keys {unknown}")
        missing = [k for k in _REQUIRED if k not in values]
        c.require(not missing, key, f"missing keys {missing}")
        if unknown or missing:
            continue
        _check_one(c, key, _read(str(name), values))


def _check_one(c: Checks, key: str, e: Experiment) -> None:
    c.require(0 < e.alpha < 0.5, f"{key}.alpha", f"must be in (0, 0.5), got {e.alpha!r}")
    c.require(0.5 <= e.power < 1, f"{key}.power", f"must be in [0.5, 1), got {e.power!r}")
    c.require(0 < e.min_effect < 1, f"{key}.min_effect", f"must be in (0, 1), got {e.min_effect!r}")
    try:
        start = datetime.fromisoformat(str(e.start).replace("Z", "+00:00"))
        c.require(start.utcoffset() is not None, f"{key}.start", "must carry a time zone (Z)")
    except ValueError:
        c.require(
            False, f"{key}.start", f"must be an RFC 3339 time like 2026-12-01T09:00:00Z, got {e.start!r}"
        )
    c.require(c.duration(f"{key}.duration", e.duration) >= 3600, f"{key}.duration", "must be at least 1h")
    c.duration(f"{key}.no_traffic_for", e.no_traffic_for)
    c.label_name(f"{key}.arm_label", e.arm_label)
    for arm in ARMS:
        value = e.arm(arm)
        c.require(isinstance(value, str) and bool(value), f"{key}.{arm}", "must be a non-empty string")
    c.require(e.control != e.treatment, f"{key}.treatment", "must differ from control")
    c.require(e.proportion in PROPORTIONS, f"{key}.proportion", f"must be one of {PROPORTIONS}")
    if e.proportion == "custom":
        for name in ("successes", "trials"):
            selector = getattr(e, name)
            c.require(
                isinstance(selector, str) and bool(_SELECTOR.match(selector)),
                f"{key}.{name}",
                f'must be a counter selector like metric_total{{label="v"}}, got {selector!r}',
            )
    else:
        c.require(
            isinstance(e.model, str) and bool(e.model), f"{key}.model", "must name the TF Serving model"
        )
        known = set(spec(TFSERVING_REQUESTS).labels) & set(spec(TFSERVING_LATENCY).labels)
        c.require(
            e.arm_label in known,
            f"{key}.arm_label",
            f"must be a TF Serving label ({', '.join(sorted(known))})",
        )
    if e.proportion == "slow_ratio":
        ok = any(math.isclose(e.slow_threshold_seconds, b, rel_tol=1e-4) for b in TFSERVING_BOUNDS)
        c.require(
            ok, f"{key}.slow_threshold_seconds", "must be a TF Serving latency bucket bound (10us x 1.8^n)"
        )
    planned = e.planned_trials
    if planned is not None:
        ok = isinstance(planned, Mapping) and set(planned) == set(ARMS)
        ok = ok and all(isinstance(n, int) and not isinstance(n, bool) and n > 0 for n in planned.values())
        c.require(ok, f"{key}.planned_trials", "must map control and treatment to positive integers")

"""The rule model: groups of alerting and recording rules, rendered later to Prometheus' YAML."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Literal

Severity = Literal["critical", "warning", "info"]
SEVERITIES: tuple[Severity, ...] = ("critical", "warning", "info")


@dataclass(frozen=True)
class Alert:
    """One alerting rule. `summary` is static; `description` is a template; `for_` empty fires at once."""

    name: str
    expr: str
    severity: Severity
    summary: str
    description: str
    for_: str = ""
    labels: Mapping[str, str] = field(default_factory=dict)
    annotations: Mapping[str, str] = field(default_factory=dict)

    def annotated(self, **extra: str) -> Alert:
        return replace(self, annotations={**self.annotations, **extra})


@dataclass(frozen=True)
class Record:
    """One recording rule, named `level:metric:operations`."""

    record: str
    expr: str
    labels: Mapping[str, str] = field(default_factory=dict)


Rule = Alert | Record


@dataclass(frozen=True)
class Group:
    """A rule group; its alerts link to the dashboard `dashboard_uid`, each (variable, label) of
    `dashboard_variables` set from the alert's label when it has one (`var-node=...`: the alerting node)."""

    name: str
    rules: tuple[Rule, ...]
    dashboard_uid: str
    interval: str = ""
    dashboard_variables: tuple[tuple[str, str], ...] = ()

    @property
    def alerts(self) -> tuple[Alert, ...]:
        return tuple(r for r in self.rules if isinstance(r, Alert))

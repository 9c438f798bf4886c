"""Our lint of the alerting conventions (monitoring-mixins guidelines; what pint and mixtool would flag)."""

from __future__ import annotations

import re
from collections.abc import Sequence

from alerts.model import SEVERITIES, Alert, Group, Record
from bundle.schema import duration_seconds

MAX_NAME = 40
MAX_RULES = 20
_CAMEL = re.compile(r"^[A-Z][a-z0-9]*(?:[A-Z][a-z0-9]*)*$")
_RECORD = re.compile(r"^[a-zA-Z_][a-zA-Z0-9_]*:[a-zA-Z0-9_]+:[a-zA-Z0-9_]+$")
_TEMPLATE = re.compile(r"\{\{.*?\}\}")
REQUIRED_ANNOTATIONS = ("summary", "description", "runbook_url", "dashboard_url")


def lint_alert(alert: Alert, prefix: str) -> list[str]:
    where = f"alert {alert.name}"
    problems = []
    if not _CAMEL.match(alert.name) or len(alert.name) > MAX_NAME or not alert.name.startswith(prefix):
        problems.append(f"{where}: name must be CamelCase, at most {MAX_NAME} characters, starting {prefix}")
    if alert.severity not in SEVERITIES:
        problems.append(f"{where}: severity {alert.severity!r} not in {SEVERITIES}")
    if "severity" in alert.labels:
        problems.append(f"{where}: severity belongs in its field, not in extra labels")
    summary = alert.summary
    if _TEMPLATE.search(summary) or "$" in summary or not summary[:1].isupper() or not summary.endswith("."):
        problems.append(
            f"{where}: summary must be a static sentence with a capital letter and a final period"
        )
    if not _TEMPLATE.search(alert.description):
        problems.append(f"{where}: description must be templated ({{{{ $labels.x }}}} or {{{{ $value }}}})")
    for name, value in alert.labels.items():
        if "$value" in value or "{{" in value:
            problems.append(
                f"{where}: label {name} must not be templated ($value makes a new alert per value)"
            )
    annotations = {"summary": summary, "description": alert.description, **alert.annotations}
    for required in REQUIRED_ANNOTATIONS:
        if not annotations.get(required):
            problems.append(f"{where}: annotation {required} missing")
    if alert.for_:
        try:
            duration_seconds(alert.for_)
        except ValueError:
            problems.append(f"{where}: for {alert.for_!r} is not a duration")
    return problems


def lint(groups: Sequence[Group], prefix: str) -> list[str]:
    """Every convention the groups break; empty when they are clean."""
    problems: list[str] = []
    names = [group.name for group in groups]
    for duplicate in sorted({n for n in names if names.count(n) > 1}):
        problems.append(f"group {duplicate}: name used twice")
    for group in groups:
        if len(group.name) > MAX_NAME:
            problems.append(f"group {group.name}: name longer than {MAX_NAME} characters")
        if not 0 < len(group.rules) <= MAX_RULES:
            problems.append(f"group {group.name}: must hold 1 to {MAX_RULES} rules, holds {len(group.rules)}")
        for rule in group.rules:
            if isinstance(rule, Record):
                if not _RECORD.match(rule.record):
                    problems.append(f"record {rule.record}: name must be level:metric:operations")
            else:
                problems.extend(lint_alert(rule, prefix))
    return problems

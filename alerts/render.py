"""Render rule groups: the plain `groups:` file promtool reads, and the PrometheusRule wrapping it."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from alerts.model import Alert, Group, Rule
from bundle.kube import metadata
from bundle.schema import BundleConfig

RULE_NAME = "mlobs-rules"


def _rule(rule: Rule) -> dict[str, Any]:
    if isinstance(rule, Alert):
        out: dict[str, Any] = {"alert": rule.name, "expr": rule.expr}
        if rule.for_:
            out["for"] = rule.for_
        out["labels"] = {"severity": rule.severity, **rule.labels}
        out["annotations"] = {"summary": rule.summary, "description": rule.description, **rule.annotations}
        return out
    out = {"record": rule.record, "expr": rule.expr}
    if rule.labels:
        out["labels"] = dict(rule.labels)
    return out


def plain(groups: Sequence[Group]) -> dict[str, Any]:
    """The rule file as Prometheus and `promtool check rules` read it."""
    rendered = []
    for group in groups:
        entry: dict[str, Any] = {"name": group.name}
        if group.interval:
            entry["interval"] = group.interval
        entry["rules"] = [_rule(rule) for rule in group.rules]
        rendered.append(entry)
    return {"groups": rendered}


def prometheus_rule(groups: Sequence[Group], cfg: BundleConfig) -> dict[str, Any]:
    """The same groups as a prometheus-operator PrometheusRule, labelled for the operator's rule selector."""
    return {
        "apiVersion": "monitoring.coreos.com/v1",
        "kind": "PrometheusRule",
        "metadata": metadata(cfg, RULE_NAME, "rules", selected=True),
        "spec": plain(groups),
    }

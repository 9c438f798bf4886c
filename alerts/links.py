"""Cross-cutting annotations added to every alert in one pass (kubernetes-mixin's add-runbook-links)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

from alerts.model import Alert, Group
from bundle.schema import Links


def with_links(groups: Sequence[Group], links: Links) -> list[Group]:
    """Groups whose alerts carry `runbook_url` and `dashboard_url` from the configured patterns."""

    def link(alert: Alert, group: Group) -> Alert:
        return alert.annotated(
            runbook_url=links.runbook_url_pattern.format(alert=alert.name.lower()),
            dashboard_url=links.dashboard_url_pattern.format(uid=group.dashboard_uid)
            + _variables(group.dashboard_variables),
        )

    return [
        replace(group, rules=tuple(link(r, group) if isinstance(r, Alert) else r for r in group.rules))
        for group in groups
    ]


def _variables(variables: Sequence[tuple[str, str]]) -> str:
    """`?var-node=<the alert's node>` for each (variable, label) whose label the alert has (one without it
    links to the dashboard as it opens); Prometheus or vmalert fills the template when the alert fires."""
    if not variables:
        return ""
    parts = "".join(
        f"{{{{ if $labels.{label} }}}}&var-{variable}={{{{ $labels.{label} | urlquery }}}}{{{{ end }}}}"
        for variable, label in variables
    )
    return f"?orgId=1{parts}"

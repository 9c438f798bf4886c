"""Cross-cutting annotations added to every alert in one pass (kubernetes-mixin's add-runbook-links)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

from alerts.model import Alert, Group
from bundle.schema import Links


def with_links(groups: Sequence[Group], links: Links) -> list[Group]:
    """Groups whose alerts carry `runbook_url` and `dashboard_url` from the configured patterns."""

    def link(alert: Alert, uid: str) -> Alert:
        return alert.annotated(
            runbook_url=links.runbook_url_pattern.format(alert=alert.name.lower()),
            dashboard_url=links.dashboard_url_pattern.format(uid=uid),
        )

    return [
        replace(
            group,
            rules=tuple(link(r, group.dashboard_uid) if isinstance(r, Alert) else r for r in group.rules),
        )
        for group in groups
    ]

"""docs/runbooks.md has a complete section for every model, training, registry and exporter alert."""

from __future__ import annotations

import re
from pathlib import Path

from alerts import build, exporters, models, registry, training
from bundle.schema import BundleConfig

RUNBOOKS = Path(__file__).resolve().parent.parent / "docs" / "runbooks.md"
PARTS = ("**Meaning.**", "**Impact.**", "**Diagnosis.**", "**Mitigation.**")


def sections() -> dict[str, str]:
    text = RUNBOOKS.read_text(encoding="utf-8")
    return {m.group(1): m.group(2) for m in re.finditer(r"^## (\w+)\n(.*?)(?=^## |\Z)", text, re.M | re.S)}


def test_every_alert_has_a_runbook_with_every_part(bundle_config: BundleConfig) -> None:
    own = {models.GROUP, training.GROUP, registry.GROUP, exporters.GROUP}
    found = sections()
    for alert in (a for g in build(bundle_config) if g.name in own for a in g.alerts):
        assert alert.name in found, f"no runbook section for {alert.name}"
        missing = [part for part in PARTS if part not in found[alert.name]]
        assert not missing, f"{alert.name}: runbook lacks {missing}"

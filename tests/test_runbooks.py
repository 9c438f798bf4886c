"""docs/runbooks.md: a section per alert, reachable through every alert's runbook_url."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest

from alerts import build
from bundle.schema import BundleConfig
from tests.experiments_example import CANARY, ISTIO, override

ROOT = Path(__file__).resolve().parent.parent
RUNBOOKS = ROOT / "docs" / "runbooks.md"
_HEADING = re.compile(r"^(#{1,6}) (.+?)\s*$", re.MULTILINE)


def github_anchor(heading: str) -> str:
    """The anchor GitHub gives a heading: lower case, punctuation dropped, spaces as hyphens."""
    return re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")


def sections() -> dict[str, str]:
    """`## Name` sections of the runbooks, by name, with their text."""
    text = RUNBOOKS.read_text(encoding="utf-8")
    parts = re.split(r"^## ", text, flags=re.MULTILINE)[1:]
    return {part.split("\n", 1)[0].strip(): part.split("\n", 1)[1] for part in parts}


def alert_names(cfg: BundleConfig) -> list[str]:
    return [alert.name for group in build(cfg) for alert in group.alerts]


@pytest.fixture
def bundle_config(make_config: Callable[[dict[str, Any]], BundleConfig]) -> BundleConfig:
    """The defaults plus one experiment of each kind, so the experiment alerts are there too."""
    return make_config(override(canary=CANARY, istio=ISTIO))


def test_every_alert_has_exactly_one_section(bundle_config: BundleConfig) -> None:
    headings = [h for level, h in _HEADING.findall(RUNBOOKS.read_text(encoding="utf-8")) if level == "##"]
    assert sorted(set(alert_names(bundle_config)) - set(headings)) == [], "alerts without a runbook section"
    assert len(headings) == len(set(headings)), "a section is repeated"


def test_no_section_outlives_its_alert(bundle_config: BundleConfig) -> None:
    assert sorted(set(sections()) - set(alert_names(bundle_config))) == []


@pytest.mark.parametrize("part", ["**Meaning.**", "**Impact.**", "**Diagnose.**", "**Mitigate.**"])
def test_every_section_says_what_it_means_costs_and_how_to_fix_it(part: str) -> None:
    assert [name for name, text in sections().items() if part not in text] == []


def test_every_default_runbook_url_resolves_to_a_heading(bundle_config: BundleConfig) -> None:
    anchors = {github_anchor(h) for _, h in _HEADING.findall(RUNBOOKS.read_text(encoding="utf-8"))}
    for group in build(bundle_config):
        for alert in group.alerts:
            url = urlsplit(alert.annotations["runbook_url"])
            assert url.path.endswith("/docs/runbooks.md"), url
            assert url.fragment in anchors, f"{alert.name}: #{url.fragment} is no heading of docs/runbooks.md"


def test_the_anchor_rule_matches_githubs() -> None:
    assert github_anchor("MLObsGpuLost") == "mlobsgpulost"
    assert github_anchor("Runbooks: the GPU area") == "runbooks-the-gpu-area"

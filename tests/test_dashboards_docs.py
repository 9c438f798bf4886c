"""docs/dashboards.md stays true: its generated panel list is fresh and names every panel of every board."""

from __future__ import annotations

from pathlib import Path

from bundle.schema import load_config
from dashboards import build
from dashboards.docs import DOC, main, render
from dashboards.lint import panels


def test_the_panel_list_is_fresh() -> None:
    text = DOC.read_text()
    assert render(text) == text, "docs/dashboards.md is stale: run python -m dashboards.docs"


def test_every_dashboard_and_panel_is_listed() -> None:
    text = DOC.read_text()
    for board in build(load_config()):
        assert f"(`{board['uid']}`)" in text
        for panel in panels(board):
            if panel["type"] != "row":
                assert f"| {panel['title']} |" in text, panel["title"]


def test_check_mode_reports_a_stale_page_and_a_rewrite_fixes_it(tmp_path: Path) -> None:
    page = tmp_path / "dashboards.md"
    stale = DOC.read_text().replace("| Latency heatmap |", "| Latency map |", 1)
    page.write_text(stale)
    assert main(["--check", str(page)]) == 1
    assert page.read_text() == stale
    assert main([str(page)]) == 0
    assert page.read_text() == DOC.read_text()

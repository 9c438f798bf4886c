"""docs/bundle.md stays true: its generated blocks are fresh, and its tables match the config, the alerts and
what `make generate` writes."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

import alerts
from bundle.config import defaults
from bundle.docs import main, render
from bundle.generate import render as generate
from bundle.schema import load_config

DOC = Path(__file__).resolve().parent.parent / "docs" / "bundle.md"


def block(name: str) -> str:
    match = re.search(rf"<!-- generated:{name} -->\n(.*?)<!-- end:{name} -->", DOC.read_text(), re.DOTALL)
    assert match, f"docs/bundle.md has no {name} block"
    return match.group(1)


def rows(table: str) -> list[list[str]]:
    """The cells of each body row of the Markdown tables in `table`."""
    lines = [line for line in table.splitlines() if line.startswith("| ") and not line.startswith("| key ")]
    return [[cell.strip() for cell in re.split(r"(?<!\\)\|", line)[1:-1]] for line in lines]


def test_generated_blocks_are_fresh() -> None:
    text = DOC.read_text()
    assert render(text) == text, "docs/bundle.md is stale: run python -m bundle.docs"


def test_the_alert_list_names_every_alert_with_its_severity() -> None:
    expected = [(f"`{a.name}`", a.severity) for group in alerts.build(load_config()) for a in group.alerts]
    listed = [(cells[0], cells[1]) for cells in rows(block("alerts")) if cells[0] != "alert"]
    assert listed == expected


def test_every_bundle_key_is_listed_with_its_default_and_meaning() -> None:
    sections = {part.split(":`", 1)[0]: rows(part) for part in block("config").split("### `") if part.strip()}
    assert list(sections) == list(defaults())
    for section, keys in defaults().items():
        listed = {cells[0]: cells[1:] for cells in sections[section]}
        assert list(listed) == [f"`{key}`" for key in keys], section
        for key, value in keys.items():
            default, meaning = listed[f"`{key}`"]
            shown = yaml.safe_dump(value, default_flow_style=True, width=1000).removesuffix("\n...\n").strip()
            assert default == f"`{shown}`", f"{section}.{key}"
            assert meaning, f"{section}.{key} has no comment in bundle.yaml"


def test_the_file_table_lists_exactly_what_generate_writes(tmp_path: Path) -> None:
    override = tmp_path / "per-process.yaml"
    override.write_text("attribution: {per_process: true}\n")
    written = set(generate(load_config())) | set(generate(load_config(override)))
    section = DOC.read_text().split("## What `make generate` writes")[1].split("\n## ")[0]
    listed = {cells[0].strip("`").removeprefix("build/") for cells in rows(section) if cells[0] != "file"}
    assert listed == written


def test_the_page_says_how_to_generate_and_deploy() -> None:
    text = DOC.read_text()
    assert 'make generate ARGS="--config site.yaml"' in text
    assert "kubectl apply -k build/kubernetes" in text


def test_check_mode_reports_a_stale_page_and_a_rewrite_fixes_it(tmp_path: Path) -> None:
    page = tmp_path / "bundle.md"
    stale = DOC.read_text().replace("| critical |", "| warning |", 1)
    page.write_text(stale)
    assert main(["--check", str(page)]) == 1
    assert page.read_text() == stale
    assert main([str(page)]) == 0
    assert page.read_text() == DOC.read_text()


def test_an_unknown_block_is_an_error() -> None:
    with pytest.raises(KeyError, match="unknown generated block 'metrics'"):
        render("<!-- generated:metrics -->\nx\n<!-- end:metrics -->\n")

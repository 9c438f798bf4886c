"""The generated part of docs/dashboards.md: every dashboard's rows and panels, with unit and what each shows.

`python -m dashboards.docs` rewrites the block between `<!-- generated:panels -->` and `<!-- end:panels -->`;
`--check` only reports a stale page (exit 1). The rest of the page is prose.
"""

from __future__ import annotations

import re
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import dashboards
from bundle.docs import cli
from bundle.docs import render as render_blocks
from bundle.schema import load_config

DOC = Path(__file__).resolve().parent.parent / "docs" / "dashboards.md"


def _first_sentence(text: str) -> str:
    found = re.match(r"(.+?[.:;])(\s|$)", text)
    return (found.group(1) if found else text).rstrip(":;").replace("|", "\\|")


def _table(board: dict[str, Any]) -> list[str]:
    out = ["| row | panel | unit | shows |", "|---|---|---|---|"]
    row = ""
    for panel in board["panels"]:
        if panel["type"] == "row":
            row = panel["title"]
            continue
        unit = panel["fieldConfig"]["defaults"]["unit"]
        out.append(f"| {row} | {panel['title']} | `{unit}` | {_first_sentence(panel['description'])} |")
    return out


def panel_list() -> str:
    """A section per dashboard of the default config: its uid, variables, and a table of its panels."""
    out: list[str] = []
    for board in dashboards.build(load_config()):
        variables = [v["name"] for v in board["templating"]["list"] if v["type"] == "query"]
        out += ["", f"### {board['title']} (`{board['uid']}`)", "", board["description"], ""]
        out += [f"Variables: {', '.join(f'`{name}`' for name in variables)}.", "", *_table(board)]
    return "\n".join(out).lstrip("\n") + "\n"


def render(text: str) -> str:
    return render_blocks(text, {"panels": panel_list})


def main(argv: Sequence[str] | None = None) -> int:
    return cli(argv, "python -m dashboards.docs", DOC, render)


if __name__ == "__main__":
    sys.exit(main())

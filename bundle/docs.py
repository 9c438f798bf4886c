"""The generated parts of docs/bundle.md: every bundle.yaml key with its comment and default, and the alerts.

`python -m bundle.docs` rewrites the blocks between `<!-- generated:NAME -->` and `<!-- end:NAME -->` in
docs/bundle.md; `--check` only reports a stale block (exit 1). The rest of the page is prose.
"""

from __future__ import annotations

import argparse
import re
import sys
from collections.abc import Callable, Iterator, Mapping, Sequence
from importlib import resources
from pathlib import Path

import yaml

import alerts
from bundle.config import defaults
from bundle.schema import load_config

DOC = Path(__file__).resolve().parent.parent / "docs" / "bundle.md"
_BLOCK = re.compile(r"(<!-- generated:(\w+) -->\n).*?(<!-- end:\2 -->)", re.DOTALL)
_KEY = re.compile(r"^( {0,2})([A-Za-z_][\w.-]*):")


def _cell(text: str) -> str:
    return text.replace("|", "\\|")


def _documented_keys() -> Iterator[tuple[str, str]]:
    """(dotted key, its comment) for every section and key in the packaged bundle.yaml, in file order."""
    text = resources.files("bundle").joinpath("bundle.yaml").read_text(encoding="utf-8")
    comment: list[str] = []
    section = ""
    for line in text.splitlines():
        stripped = line.strip()
        if stripped.startswith("#"):
            comment.append(stripped.lstrip("#").strip())
            continue
        match = _KEY.match(line)
        if match and not stripped.startswith("-"):
            indent, key = match.groups()
            if not indent:
                section = key
            yield (f"{section}.{key}" if indent else key), " ".join(comment)
        comment = []


def config_reference() -> str:
    """A table per section: key, default and the comment bundle.yaml gives it."""
    data = defaults()
    out: list[str] = []
    for key, comment in _documented_keys():
        if "." not in key:
            out += ["", f"### `{key}:`", "", comment, "", "| key | default | meaning |", "|---|---|---|"]
            continue
        section, name = key.split(".", 1)
        default = yaml.safe_dump(data[section][name], default_flow_style=True, width=1000).strip()
        default = default.removesuffix("\n...").strip()
        out.append(f"| `{name}` | `{_cell(default)}` | {_cell(comment)} |")
    return "\n".join(out).lstrip("\n") + "\n"


def alert_list() -> str:
    """Every alert of the default config: name, severity, how long it must hold, and its summary."""
    out = ["| alert | severity | for | summary |", "|---|---|---|---|"]
    for group in alerts.build(load_config()):
        for alert in group.alerts:
            hold = alert.for_ or "at once"
            out.append(f"| `{alert.name}` | {alert.severity} | {hold} | {_cell(alert.summary)} |")
    return "\n".join(out) + "\n"


BLOCKS: dict[str, Callable[[], str]] = {"config": config_reference, "alerts": alert_list}


def render(text: str, blocks: Mapping[str, Callable[[], str]] = BLOCKS) -> str:
    """`text` with every generated block rewritten; an unknown block name is an error."""

    def fill(match: re.Match[str]) -> str:
        name = match.group(2)
        if name not in blocks:
            raise KeyError(f"docs: unknown generated block {name!r}")
        return f"{match.group(1)}{blocks[name]()}{match.group(3)}"

    return _BLOCK.sub(fill, text)


def cli(argv: Sequence[str] | None, prog: str, doc: Path, fill: Callable[[str], str]) -> int:
    """Rewrite the generated blocks of `doc` with `fill`; --check only reports a stale page (exit 1)."""
    parser = argparse.ArgumentParser(prog=prog, description=f"Rewrite the generated blocks of {doc.name}.")
    parser.add_argument("--check", action="store_true", help="report a stale page instead of rewriting it")
    parser.add_argument("path", nargs="?", type=Path, default=doc)
    args = parser.parse_args(argv)
    text = args.path.read_text(encoding="utf-8")
    fresh = fill(text)
    if args.check:
        if fresh != text:
            print(f"{prog.split()[-1]}: {args.path} is stale: run {prog}", file=sys.stderr)
            return 1
        return 0
    args.path.write_text(fresh, encoding="utf-8")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    return cli(argv, "python -m bundle.docs", DOC, render)


if __name__ == "__main__":
    sys.exit(main())

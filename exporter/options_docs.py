"""docs/exporter.example.yaml and docs/exporter-config.md, written from the plugins' option tables.

python -m exporter.options_docs example > docs/exporter.example.yaml
python -m exporter.options_docs reference > docs/exporter-config.md
"""

from __future__ import annotations

import sys
import textwrap
from collections.abc import Sequence
from typing import Any

import yaml

from exporter.options import Option
from exporter.plugin import Plugin

DURATIONS = (
    "Durations: `2s`, `500ms`, `1m`, `1h` (also `d`, `w`, `1h30m`) or bare seconds, in flags and file alike."
)
# Collectors the example turns on beyond their default, and why.
EXAMPLE_ENABLED = {"tfserving": "example: on the GPU DaemonSet, to read the node's TF Serving pods"}
COMMENT_WIDTH = 108


def _yaml_value(value: Any) -> str:
    text: str = yaml.safe_dump(value, default_flow_style=True, width=1_000_000, sort_keys=False)
    return text.removesuffix("\n").removesuffix("\n...").strip()


def _comment(option: Option, plugin: str, indent: str) -> list[str]:
    notes = []
    if option.example is not None:
        notes.append("example")
    if option.default_text:
        notes.append(f"default: {option.default_text}")
    flag = option.flag_name(plugin)
    if flag:
        notes.append(f"flag {flag}")
    text = f"{option.help}" + (f" ({'; '.join(notes)})" if notes else "")
    return textwrap.wrap(
        text,
        COMMENT_WIDTH - len(indent),
        initial_indent=f"{indent}# ",
        subsequent_indent=f"{indent}# ",
        break_on_hyphens=False,
    )


def _option_lines(option: Option, plugin: str, depth: int) -> list[str]:
    indent = "  " * depth
    value = option.kind.example(option.default if option.example is None else option.example)
    key = option.key.rpartition(".")[2]
    line = f"{key}: {_yaml_value(value)}"
    return [*_comment(option, plugin, indent), f"{indent}# {line}" if option.commented else f"{indent}{line}"]


def _collector_line(plugin: Plugin) -> str:
    enabled = plugin.default_enabled or plugin.name in EXAMPLE_ENABLED
    why = EXAMPLE_ENABLED.get(plugin.name, plugin.description)
    needs = f"; needs {', '.join(plugin.requires)}" if plugin.requires else ""
    return f"  {plugin.name}: {'true' if enabled else 'false'}  # {why}{needs}"


def example_yaml(plugins: Sequence[Plugin]) -> str:
    lines = [
        "# Example --config.file for the mlobs exporter: every option, its default unless marked example.",
        "# Written by `make docs` from the plugins' option tables (exporter.options_docs); do not edit.",
        "# Flags win over this file; unknown keys are errors; docs/exporter-config.md lists every option.",
        f"# {DURATIONS}",
        "",
        "collectors:",
        *(_collector_line(plugin) for plugin in plugins),
    ]
    for plugin in plugins:
        lines += ["", f"{plugin.name}:"]
        opened: list[str] = []
        for option in plugin.options:
            if not option.in_config:
                continue
            parents = option.key.split(".")[:-1]
            common = 0
            while common < min(len(opened), len(parents)) and opened[common] == parents[common]:
                common += 1
            lines += [f"{'  ' * (depth + 1)}{name}:" for depth, name in enumerate(parents) if depth >= common]
            opened = parents
            lines += _option_lines(option, plugin.name, len(parents) + 1)
    return "\n".join(lines) + "\n"


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def reference_markdown(plugins: Sequence[Plugin]) -> str:
    lines = [
        "# Exporter configuration reference",
        "",
        "Written by `make docs` from the plugins' option tables (`python -m exporter.options_docs`); do not",
        "edit. Every option is a key under its collector's section of `--config.file`",
        "(docs/exporter.example.yaml) and, where a flag is listed, a flag: the flag wins over the file, the",
        "file over the default. A repeated list flag replaces the file's list.",
        "",
        DURATIONS,
        "",
        "## Collectors",
        "",
        "| collector | flag | default | requires | uses | description |",
        "|---|---|---|---|---|---|",
    ]
    for plugin in plugins:
        cells = [
            plugin.name,
            f"`--collector.{plugin.name}`",
            "on" if plugin.default_enabled else "off",
            ", ".join(plugin.requires),
            ", ".join(plugin.uses),
            plugin.description,
        ]
        lines.append("| " + " | ".join(_cell(cell) for cell in cells) + " |")
    for plugin in plugins:
        lines += ["", f"## {plugin.name}", "", plugin.description + ".", ""]
        lines += ["| key | flag | type | default | unit | help |", "|---|---|---|---|---|---|"]
        for option in plugin.options:
            flag = option.flag_name(plugin.name)
            cells = [
                f"`{plugin.name}.{option.key}`" if option.in_config else "",
                f"`{flag}`" if flag else "",
                option.kind.describe(),
                option.shown_default(with_unit=False),
                option.unit,
                option.help,
            ]
            lines.append("| " + " | ".join(_cell(cell) for cell in cells) + " |")
    return "\n".join(lines) + "\n"


def main(argv: Sequence[str]) -> int:
    from exporter.plugins import PLUGINS

    writers = {"example": example_yaml, "reference": reference_markdown}
    if len(argv) != 1 or argv[0] not in writers:
        print(f"usage: python -m exporter.options_docs {'|'.join(writers)}", file=sys.stderr)
        return 2
    sys.stdout.write(writers[argv[0]](PLUGINS))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

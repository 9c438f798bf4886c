"""Render the metric reference (docs/metrics.md) from the catalogue.

Run as `python -m exporter.catalogue.reference`; `make docs` does.
"""

from __future__ import annotations

import sys
from importlib import import_module

from exporter.catalogue import MODULES

HEADER = """# Metrics reference

Generated from the catalogue (`exporter/catalogue/`) by `make docs`; a test fails when this file is stale.
Edit the catalogue, not this file.
"""


def render() -> str:
    lines = [HEADER]
    for module_name in MODULES:
        module = import_module(f"exporter.catalogue.{module_name}")
        doc = (module.__doc__ or "").strip()
        lines.append(f"## {module_name}\n")
        if doc:
            lines.append(doc + "\n")
        lines.append("| name | type | unit | labels | help |")
        lines.append("|---|---|---|---|---|")
        for spec in module.METRICS:
            labels = ", ".join(f"`{label}`" for label in spec.labels) or "-"
            help_text = spec.help.replace("|", "\\|")
            lines.append(f"| `{spec.name}` | {spec.type} | {spec.unit or '-'} | {labels} | {help_text} |")
        lines.append("")
    return "\n".join(lines)


if __name__ == "__main__":
    sys.stdout.write(render())

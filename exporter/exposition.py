"""Spelling of the Prometheus text format (0.0.4): escaping and number formatting.

The exporter renders its families itself (`FamilySet.render_into`): prometheus-client's generic renderers
cost more than collecting an 8-GPU node does. Tests check the output with prometheus-client's parser and
`promtool check metrics`.
"""

from __future__ import annotations

import math

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"


def escape_label(value: str) -> str:
    if "\\" in value or '"' in value or "\n" in value:
        return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
    return value


def escape_help(text: str) -> str:
    return text.replace("\\", "\\\\").replace("\n", "\\n")


def format_value(value: float) -> str:
    """Numbers as Prometheus reads them: integers without exponent, +Inf/-Inf/NaN spelt out."""
    if value.is_integer():  # false for NaN and the infinities
        return f"{int(value)}.0" if -1e15 < value < 1e15 else repr(value)
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    return repr(value)

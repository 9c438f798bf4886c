"""The option docs are written from the option tables, and the committed copies are current."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path

import pytest

from exporter.options_docs import example_yaml, reference_markdown
from exporter.plugin import Plugin
from exporter.plugins import PLUGINS
from exporter.settings import build_parser

DOCS = Path(__file__).resolve().parent.parent / "docs"


@pytest.mark.parametrize(
    ("name", "write"), [("exporter.example.yaml", example_yaml), ("exporter-config.md", reference_markdown)]
)
def test_the_committed_docs_are_current(name: str, write: Callable[[Sequence[Plugin]], str]) -> None:
    assert (DOCS / name).read_text(encoding="utf-8") == write(PLUGINS), f"docs/{name} is stale: run make docs"


def test_help_lists_every_flag_with_its_default() -> None:
    text = build_parser(PLUGINS).format_help()
    for plugin in PLUGINS:
        for option in plugin.options:
            flag = option.flag_name(plugin.name)
            if flag is not None:
                assert flag in text
    assert "--gpu.call-timeout DURATION" in text
    assert "(default 2s)" in text and "(default 16777216 bytes" not in text  # config-only: no flag


def test_the_reference_lists_every_option_with_its_flag() -> None:
    text = reference_markdown(PLUGINS)
    for plugin in PLUGINS:
        assert f"## {plugin.name}" in text
        for option in plugin.options:
            flag = option.flag_name(plugin.name)
            if option.in_config:
                assert f"`{plugin.name}.{option.key}`" in text
            if flag is not None:
                assert f"`{flag}`" in text
    assert "| `tfserving.max_body_bytes` |  | integer, at least 1024 | 16777216 | bytes |" in text


def test_the_example_shows_every_config_option() -> None:
    text = example_yaml(PLUGINS)
    for plugin in PLUGINS:
        for option in plugin.options:
            if option.in_config:
                assert f"{option.key.rpartition('.')[2]}:" in text, option.key

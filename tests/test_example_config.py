"""The documented example config is valid for the exporter as it is now."""

from __future__ import annotations

from pathlib import Path

from exporter.plugins import PLUGINS
from exporter.settings import parse

EXAMPLE = Path(__file__).resolve().parent.parent / "docs" / "exporter.example.yaml"


def test_example_config_parses_with_every_section() -> None:
    settings = parse([f"--config.file={EXAMPLE}"], {"NODE_NAME": "gpu-node-1"}, PLUGINS)
    assert list(settings.collectors) == ["gpu", "tfserving"]
    assert settings.collectors["tfserving"].targets[0].models == ("fraud-detector", "ranker")


def test_every_plugin_has_a_section_in_the_example() -> None:
    text = EXAMPLE.read_text(encoding="utf-8")
    for plugin in PLUGINS:
        assert f"\n{plugin.name}:\n" in text, f"docs/exporter.example.yaml lacks a {plugin.name}: section"


def test_every_option_is_in_the_example_with_durations_written_as_durations() -> None:
    text = EXAMPLE.read_text(encoding="utf-8")
    assert "\n  call_timeout: 2s\n" in text and "\n  refresh_interval: 1m\n" in text
    assert "\n    refresh_interval: 30s\n" in text  # tfserving.kubernetes

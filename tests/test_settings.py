"""Flags and config file: defaults, precedence, and every problem reported at once."""

from __future__ import annotations

from pathlib import Path

import pytest

from exporter.plugins import PLUGINS
from exporter.settings import ConfigError, parse, parse_listen_address
from tests.dummy_plugin import DummyPlugin


def test_defaults_enable_default_collectors_and_read_node_name() -> None:
    settings = parse(
        [], {"NODE_NAME": "gpu-node-1"}, [DummyPlugin("a"), DummyPlugin("b", default_enabled=False)]
    )
    assert settings.listen_port == 9847
    assert settings.telemetry_path == "/metrics"
    assert list(settings.collectors) == ["a"]
    assert settings.node_name == "gpu-node-1"


def test_collector_flags_override_config_file(tmp_path: Path) -> None:
    config = tmp_path / "c.yaml"
    config.write_text("collectors: {a: false, b: true}\nb: {mode: partial}\n")
    plugins = [DummyPlugin("a"), DummyPlugin("b", default_enabled=False)]
    settings = parse([f"--config.file={config}", "--collector.a", "--no-collector.b"], {}, plugins)
    assert list(settings.collectors) == ["a"]
    settings = parse([f"--config.file={config}"], {}, plugins)
    assert list(settings.collectors) == ["b"]
    assert settings.collectors["b"].mode == "partial"


@pytest.mark.parametrize(
    ("address", "expected"),
    [(":9847", ("0.0.0.0", 9847)), ("127.0.0.1:0", ("127.0.0.1", 0)), ("[::1]:80", ("::1", 80))],
)
def test_listen_address_forms(address: str, expected: tuple[str, int]) -> None:
    assert parse_listen_address(address) == expected


def test_every_problem_is_reported_at_once(tmp_path: Path) -> None:
    config = tmp_path / "c.yaml"
    config.write_text("dummy: {mode: sideways, delay: -1, colour: red}\nbogus: 1\n")
    with pytest.raises(ConfigError) as caught:
        parse(
            ["--web.listen-address=nope", "--log.level=loud", "--frobnicate", f"--config.file={config}"],
            {},
            [DummyPlugin()],
        )
    problems = "\n".join(caught.value.problems)
    for expected in (
        "--web.listen-address: 'nope'",
        "--log.level: 'loud'",
        "unknown flag --frobnicate",
        "dummy.mode: must be one of",
        "dummy.delay: must be greater than 0",
        "dummy.colour: unknown key",
        "bogus: unknown key",
    ):
        assert expected in problems
    assert len(caught.value.problems) == 7


def test_unreadable_and_invalid_config_files(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read"):
        parse([f"--config.file={tmp_path / 'missing.yaml'}"], {}, [DummyPlugin()])
    broken = tmp_path / "broken.yaml"
    broken.write_text("a: [1, 2\n")
    with pytest.raises(ConfigError, match="not valid YAML"):
        parse([f"--config.file={broken}"], {}, [DummyPlugin()])


def test_a_plugin_option_takes_the_flag_over_the_config_over_the_default(tmp_path: Path) -> None:
    config = tmp_path / "c.yaml"
    config.write_text("dummy: {mode: partial}\n")
    assert parse([], {}, [DummyPlugin()]).collectors["dummy"].mode == "ok"
    assert parse([f"--config.file={config}"], {}, [DummyPlugin()]).collectors["dummy"].mode == "partial"
    flagged = parse([f"--config.file={config}", "--dummy.mode=raise"], {}, [DummyPlugin()])
    assert flagged.collectors["dummy"].mode == "raise"


def test_a_refused_flag_is_named_and_the_config_value_is_still_checked(tmp_path: Path) -> None:
    config = tmp_path / "c.yaml"
    config.write_text("dummy: {mode: sideways}\n")
    with pytest.raises(ConfigError) as caught:
        parse([f"--config.file={config}", "--dummy.mode=upwards"], {}, [DummyPlugin()])
    assert caught.value.problems == [
        "dummy.mode: must be one of ok, raise, partial, block, unhealthy, got 'sideways'",
        "--dummy.mode: must be one of ok, raise, partial, block, unhealthy, got 'upwards'",
    ]


def test_every_option_is_declared_once() -> None:
    flags = [
        flag for plugin in PLUGINS for option in plugin.options for flag in option.flag_names(plugin.name)
    ]
    assert len(flags) == len(set(flags))
    for plugin in PLUGINS:
        keys = [option.key for option in plugin.options]
        assert len(keys) == len(set(keys)), plugin.name

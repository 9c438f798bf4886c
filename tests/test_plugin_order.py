"""Plugin dependencies: `requires` is checked once when parsing; `requires` and `uses` order the build."""

from __future__ import annotations

import pytest

from exporter.app import build_root
from exporter.plugin import BuildContext
from exporter.plugin_order import DependencyCycle, build_order, registry
from exporter.plugins import PLUGINS
from exporter.settings import ConfigError, parse
from tests.dummy_plugin import DummyPlugin


def test_a_plugin_is_built_after_what_it_requires_and_uses_whatever_the_registry_order() -> None:
    plugins = [
        DummyPlugin("joiner", requires=("source",), uses=("extra",)),
        DummyPlugin("extra"),
        DummyPlugin("source"),
    ]
    assert [p.name for p in build_order(plugins)] == ["extra", "source", "joiner"]


def test_ties_keep_the_registry_order() -> None:
    plugins = [DummyPlugin("c"), DummyPlugin("a"), DummyPlugin("b")]
    assert [p.name for p in build_order(plugins)] == ["c", "a", "b"]


def test_a_used_plugin_that_is_not_registered_does_not_hold_the_order() -> None:
    plugins = [DummyPlugin("a", uses=("absent",)), DummyPlugin("b")]
    assert [p.name for p in build_order(plugins)] == ["a", "b"]


def test_a_dependency_cycle_fails_the_registry() -> None:
    with pytest.raises(DependencyCycle, match="cycle: a \\(after b\\) -> b \\(after a\\)"):
        registry(DummyPlugin("a", requires=("b",)), DummyPlugin("b", uses=("a",)))
    with pytest.raises(DependencyCycle):
        registry(DummyPlugin("self", uses=("self",)))


def test_a_name_given_twice_fails_the_registry() -> None:
    with pytest.raises(ValueError, match="given twice: a"):
        registry(DummyPlugin("a"), DummyPlugin("a"))


def test_the_exporter_builds_attribution_after_gpu_and_tfserving() -> None:
    order = [plugin.name for plugin in build_order(PLUGINS)]
    assert order.index("attribution") > max(order.index("gpu"), order.index("tfserving"))


def test_a_required_plugin_that_is_off_is_one_problem() -> None:
    plugins = [DummyPlugin("joiner", default_enabled=False, requires=("source",)), DummyPlugin("source")]
    with pytest.raises(ConfigError) as caught:
        parse(["--collector.joiner", "--no-collector.source"], {}, plugins)
    assert caught.value.problems == ["--collector.joiner: needs the source collector, which is turned off"]
    assert list(parse(["--collector.joiner"], {}, plugins).collectors) == ["source", "joiner"]


def test_a_used_plugin_that_is_off_is_no_problem() -> None:
    plugins = [DummyPlugin("joiner", uses=("extra",)), DummyPlugin("extra", default_enabled=False)]
    assert list(parse([], {}, plugins).collectors) == ["joiner"]


def test_settings_and_the_root_follow_the_build_order() -> None:
    plugins = [DummyPlugin("joiner", uses=("extra",)), DummyPlugin("extra")]
    settings = parse([], {}, plugins)
    assert list(settings.collectors) == ["extra", "joiner"]
    ctx = BuildContext(node_name="", environ={})
    build_root(settings, plugins, ctx)
    assert list(ctx.built) == ["extra", "joiner"]

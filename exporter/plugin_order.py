"""Plugin dependencies: `requires` (must be on too) and `uses` (built first when on) give the build order."""

from __future__ import annotations

from collections.abc import Collection, Sequence

from exporter.plugin import Plugin


class DependencyCycle(ValueError):
    """Plugins that need each other cannot be built in any order; a programming error, found at import."""


def _after(plugin: Plugin) -> tuple[str, ...]:
    return (*plugin.requires, *plugin.uses)


def build_order(plugins: Sequence[Plugin]) -> list[Plugin]:
    """Every plugin after those it requires or uses; otherwise in registry order."""
    names = {plugin.name for plugin in plugins}
    waiting = list(plugins)
    ordered: list[Plugin] = []
    done: set[str] = set()
    while waiting:
        ready = next((p for p in waiting if all(dep in done or dep not in names for dep in _after(p))), None)
        if ready is None:
            cycle = " -> ".join(f"{p.name} (after {', '.join(_after(p))})" for p in waiting)
            raise DependencyCycle(f"plugin dependencies form a cycle: {cycle}")
        waiting.remove(ready)
        ordered.append(ready)
        done.add(ready.name)
    return ordered


def registry(*plugins: Plugin) -> tuple[Plugin, ...]:
    """The plugins in the order given (flags, help, docs); a name given twice or a cycle fails the import."""
    names = [plugin.name for plugin in plugins]
    twice = sorted({name for name in names if names.count(name) > 1})
    if twice:
        raise ValueError(f"plugin names given twice: {', '.join(twice)}")
    build_order(plugins)
    return plugins


def missing_requirements(plugins: Sequence[Plugin], enabled: Collection[str]) -> list[str]:
    """One problem per enabled plugin whose required plugin is off."""
    return [
        f"--collector.{plugin.name}: needs the {required} collector, which is turned off"
        for plugin in plugins
        if plugin.name in enabled
        for required in plugin.requires
        if required not in enabled
    ]

"""Composition root: build the enabled collectors from settings and wire them to the HTTP server."""

from __future__ import annotations

import platform
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from exporter import __version__
from exporter.collectors.base import IsolatingCollector
from exporter.http import MetricsServer, make_app
from exporter.plugin import BuildContext, Plugin
from exporter.settings import Settings


@dataclass
class Exporter:
    root: IsolatingCollector
    server: MetricsServer

    @property
    def port(self) -> int:
        return self.server.port

    def start(self) -> None:
        self.server.start()

    def stop(self) -> None:
        self.server.stop()
        self.root.close()


def build_root(settings: Settings, plugins: Sequence[Plugin], ctx: BuildContext) -> IsolatingCollector:
    by_name = {plugin.name: plugin for plugin in plugins}
    ctx.build_labels.setdefault("gpu_backend", "none")
    try:
        for name, plugin_settings in settings.collectors.items():
            ctx.built[name] = by_name[name].build(plugin_settings, ctx)
    except BaseException:
        for collector in ctx.built.values():
            collector.close()
        raise
    labels = {
        "version": __version__,
        "python_version": platform.python_version(),
        "node": settings.node_name,
        **ctx.build_labels,
    }
    return IsolatingCollector(list(ctx.built.values()), labels, clock=ctx.clock, wall_clock=ctx.wall_clock)


def build_exporter(
    settings: Settings, plugins: Sequence[Plugin], environ: Mapping[str, str], ctx: BuildContext | None = None
) -> Exporter:
    """Build collectors and server (bound, not yet serving). Tests pass port 0 and read `.port`."""
    ctx = ctx or BuildContext(node_name=settings.node_name, environ=environ)
    root = build_root(settings, plugins, ctx)
    try:
        server = MetricsServer(
            settings.listen_host, settings.listen_port, make_app(root, settings.telemetry_path)
        )
    except OSError:
        root.close()
        raise
    return Exporter(root=root, server=server)

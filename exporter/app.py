"""Composition root: bind the listen socket, build the enabled collectors, wire them to the HTTP server."""

from __future__ import annotations

import platform
import socket
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from exporter import __version__
from exporter.collector import IsolatingCollector
from exporter.http import make_app
from exporter.http_server import HttpServer, ServerLimits, listen
from exporter.plugin import BuildContext, Plugin
from exporter.plugin_order import build_order
from exporter.settings import Settings
from exporter.textsafe import safe_message
from exporter.webconfig_reload import protect


class StartError(Exception):
    """A collector could not be built; the message names it, in one line."""


@dataclass
class Exporter:
    root: IsolatingCollector
    server: HttpServer

    @property
    def port(self) -> int:
        return self.server.port

    def start(self) -> None:
        self.server.start()

    def stop(self) -> None:
        self.server.stop()
        self.root.close()


def build_root(settings: Settings, plugins: Sequence[Plugin], ctx: BuildContext) -> IsolatingCollector:
    enabled = [plugin for plugin in build_order(plugins) if plugin.name in settings.collectors]
    ctx.build_labels.setdefault("gpu_backend", "none")
    name = ""
    try:
        for plugin in enabled:
            name = plugin.name
            ctx.built[name] = plugin.build(settings.collectors[name], ctx)
    except BaseException as exc:
        for collector in ctx.built.values():
            collector.close()
        if isinstance(exc, Exception):
            raise StartError(f"cannot start the {name} collector: {safe_message(exc)}") from exc
        raise
    labels = {
        "version": __version__,
        "python_version": platform.python_version(),
        "node": settings.node_name,
        **ctx.build_labels,
    }
    return IsolatingCollector(list(ctx.built.values()), labels, clock=ctx.clock, wall_clock=ctx.wall_clock)


def build_exporter(
    settings: Settings,
    plugins: Sequence[Plugin],
    environ: Mapping[str, str],
    ctx: BuildContext | None = None,
    listener: socket.socket | None = None,
) -> Exporter:
    """Bind (unless given a bound `listener`), then build the collectors; nothing serves before `start`.

    Binding comes first so that a busy or foreign address fails before any collector starts a thread.
    Tests pass port 0 and read `.port`."""
    listener = listener or listen(settings.listen_host, settings.listen_port)
    ctx = ctx or BuildContext(node_name=settings.node_name, environ=environ)
    try:
        root = build_root(settings, plugins, ctx)
    except BaseException:
        listener.close()
        raise
    limits = ServerLimits(max_requests=settings.max_requests)
    app = make_app(root, settings.telemetry_path)
    web = settings.web_config
    if web is None:
        server = HttpServer(listener, app, limits)
    else:
        tls_context = web.tls_context if web.tls_enabled else None
        server = HttpServer(listener, protect(app, web), limits, tls_context=tls_context)
    root.own_series.append(server.add_events)
    return Exporter(root=root, server=server)

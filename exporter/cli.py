"""`mlobs-exporter` / `python -m exporter`: parse, validate, build, serve until SIGTERM."""

from __future__ import annotations

import logging
import os
import signal
import sys
import threading
from collections.abc import Mapping, Sequence

from exporter import logs
from exporter.app import build_exporter
from exporter.plugins import PLUGINS
from exporter.settings import ConfigError, parse

log = logging.getLogger("exporter")


def main(argv: Sequence[str] | None = None, environ: Mapping[str, str] | None = None) -> int:
    environ = os.environ if environ is None else environ
    try:
        settings = parse(sys.argv[1:] if argv is None else argv, environ, PLUGINS)
    except ConfigError as exc:
        count = len(exc.problems)
        noun = "problem" if count == 1 else "problems"
        listing = "; ".join(exc.problems)
        print(f"mlobs-exporter: invalid configuration ({count} {noun}): {listing}", file=sys.stderr)
        return 2

    logs.setup(settings.log_level, settings.log_format)
    try:
        exporter = build_exporter(settings, PLUGINS, environ)
    except OSError as exc:
        log.error("cannot listen on %s:%s: %s", settings.listen_host, settings.listen_port, exc.strerror)
        return 1

    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    exporter.start()
    shown_host = "localhost" if settings.listen_host in ("0.0.0.0", "") else settings.listen_host
    log.info(
        "listening; scrape http://%s:%d%s (collectors: %s)",
        shown_host,
        exporter.port,
        settings.telemetry_path,
        ", ".join(settings.collectors) or "none",
    )
    stop.wait()
    log.info("shutting down")
    exporter.stop()
    return 0

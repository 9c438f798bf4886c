"""`mlobs-exporter` / `python -m exporter`: parse, validate, bind, build, serve until SIGTERM.

Every problem before serving (flags, config file, the listen address, a collector that cannot start) is
one line on stderr and exit code 2, with nothing left running.
"""

from __future__ import annotations

import ctypes
import logging
import os
import signal
import sys
import threading
from collections.abc import Mapping, Sequence

from exporter import logs
from exporter.app import StartError, build_exporter
from exporter.http_server import listen
from exporter.plugins import PLUGINS
from exporter.settings import ConfigError, parse
from exporter.textsafe import safe_text

log = logging.getLogger("exporter")

# More problems than this are counted, not listed: the line stays readable.
MAX_LISTED_PROBLEMS = 20
PROBLEM_LIMIT = 300


def _fail(message: str) -> int:
    print(f"mlobs-exporter: {message}", file=sys.stderr)
    return 2


def describe_problems(problems: Sequence[str]) -> str:
    count = len(problems)
    noun = "problem" if count == 1 else "problems"
    # Each cut and escaped: a newline or a megabyte in a value must not break the one line.
    listing = "; ".join(safe_text(problem, PROBLEM_LIMIT) for problem in problems[:MAX_LISTED_PROBLEMS])
    if count > MAX_LISTED_PROBLEMS:
        listing += f"; and {count - MAX_LISTED_PROBLEMS} more"
    return f"invalid configuration ({count} {noun}): {listing}"


# glibc's mallopt(M_ARENA_MAX): one malloc arena per thread would let each of the HTTP workers and collector
# threads keep its own free memory, so RSS creeps up as scrapes rotate over them (+1.4 MiB over 10,000
# scrapes; with two arenas +0.4 MiB, `make bench ARGS=robustness`).
_M_ARENA_MAX = -8
MALLOC_ARENAS = 2


def bound_malloc_arenas() -> bool:
    """Cap glibc's malloc arenas before any thread starts; False where libc is not glibc (nothing changes)."""
    try:
        # The process's own symbols, libc's among them: ctypes.util.find_library would cost a subprocess
        # import (2 MiB, 10 ms) on every start.
        libc = ctypes.CDLL(None)
        return bool(libc.mallopt(_M_ARENA_MAX, MALLOC_ARENAS))
    except (OSError, AttributeError):
        return False


def main(argv: Sequence[str] | None = None, environ: Mapping[str, str] | None = None) -> int:
    environ = os.environ if environ is None else environ
    if "MALLOC_ARENA_MAX" not in environ:  # an operator's own setting wins
        bound_malloc_arenas()
    try:
        settings = parse(sys.argv[1:] if argv is None else argv, environ, PLUGINS)
    except ConfigError as exc:
        return _fail(describe_problems(exc.problems))

    address = f"{safe_text(settings.listen_host, 100)}:{settings.listen_port}"
    try:  # before any collector starts a thread
        listener = listen(settings.listen_host, settings.listen_port)
    except OSError as exc:
        return _fail(f"cannot listen on {address}: {exc.strerror or exc}")
    logs.setup(settings.log_level, settings.log_format)
    for warning in settings.warnings:
        log.warning("%s", warning)
    try:
        exporter = build_exporter(settings, PLUGINS, environ, listener=listener)
    except StartError as exc:
        return _fail(str(exc))

    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    exporter.start()
    shown_host = "localhost" if settings.listen_host in ("0.0.0.0", "", "::") else settings.listen_host
    if ":" in shown_host:
        shown_host = f"[{shown_host}]"
    log.info(
        "listening; scrape %s://%s:%d%s (collectors: %s)",
        "https" if settings.web_config and settings.web_config.tls_enabled else "http",
        shown_host,
        exporter.port,
        settings.telemetry_path,
        ", ".join(settings.collectors) or "none",
    )
    stop.wait()
    log.info("shutting down")
    exporter.stop()
    return 0

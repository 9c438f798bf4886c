"""Shared test helpers: free ports, scraping over HTTP, promtool, an in-process exporter."""

from __future__ import annotations

import contextlib
import shutil
import socket
import subprocess
import urllib.request
from collections.abc import Iterator, Mapping, Sequence

from prometheus_client.parser import text_string_to_metric_families

from exporter.app import Exporter, build_exporter
from exporter.plugin import BuildContext, Plugin
from exporter.settings import parse


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def http_get(url: str, timeout: float = 10) -> tuple[int, dict[str, str], str]:
    """GET a URL; returns (status, headers, body) for 2xx-5xx alike."""
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:
            return response.status, dict(response.headers), response.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, dict(exc.headers), exc.read().decode()


def samples(text: str) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    """Parse an exposition into {(sample name, labels): value}."""
    out: dict[tuple[str, frozenset[tuple[str, str]]], float] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            out[(sample.name, frozenset(sample.labels.items()))] = sample.value
    return out


def value(text: str, name: str, **labels: str) -> float | None:
    """The value of the one sample with this name whose labels include `labels`; None when absent."""
    found = [v for (n, lbls), v in samples(text).items() if n == name and set(labels.items()) <= set(lbls)]
    if len(found) > 1:
        raise AssertionError(f"{len(found)} samples of {name} match {labels}")
    return found[0] if found else None


def promtool_check_metrics(text: str) -> str:
    """Run `promtool check metrics` on an exposition; returns what it printed (empty when clean)."""
    promtool = shutil.which("promtool")
    if promtool is None:
        raise RuntimeError("promtool not installed: run `make test` (it installs the prometheus package)")
    result = subprocess.run(
        [promtool, "check", "metrics"], input=text, capture_output=True, text=True, timeout=30, check=False
    )
    return (result.stdout + result.stderr).strip()


@contextlib.contextmanager
def running_exporter(
    argv: Sequence[str],
    plugins: Sequence[Plugin],
    environ: Mapping[str, str] | None = None,
    ctx: BuildContext | None = None,
) -> Iterator[Exporter]:
    """An exporter on a free loopback port, serving until the block ends."""
    environ = environ or {}
    settings = parse(["--web.listen-address=127.0.0.1:0", *argv], environ, plugins)
    exporter = build_exporter(settings, plugins, environ, ctx)
    exporter.start()
    try:
        yield exporter
    finally:
        exporter.stop()


def scrape(exporter: Exporter, path: str = "/metrics") -> str:
    status, _, body = http_get(f"http://127.0.0.1:{exporter.port}{path}")
    assert status == 200, f"scrape returned {status}: {body[:200]}"
    return body

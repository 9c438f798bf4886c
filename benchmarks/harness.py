"""Measure an exporter over HTTP: scrape latency percentiles, CPU per scrape, RSS, concurrent scrapes."""

from __future__ import annotations

import os
import resource
import statistics
import subprocess
import sys
import time
import urllib.request
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

# Prometheus' own scrape headers, so content negotiation matches real scrapes.
SCRAPE_HEADERS = {
    "Accept": "application/openmetrics-text;version=1.0.0,application/openmetrics-text;version=0.0.1;q=0.75,"
    "text/plain;version=0.0.4;q=0.5,*/*;q=0.1",
    "Accept-Encoding": "gzip",
}


@dataclass
class ScrapeStats:
    median_ms: float
    p99_ms: float
    cpu_ms_per_scrape: float
    rss_mib: float
    errors_concurrent: int
    series: int

    def line(self, label: str) -> str:
        return (
            f"{label:<44} median {self.median_ms:7.2f} ms  p99 {self.p99_ms:7.2f} ms  "
            f"cpu {self.cpu_ms_per_scrape:6.2f} ms/scrape  rss {self.rss_mib:6.1f} MiB  "
            f"series {self.series:5d}  errors@50 {self.errors_concurrent}"
        )


def scrape_once(url: str, timeout: float = 10) -> bytes:
    request = urllib.request.Request(url, headers={"Accept": SCRAPE_HEADERS["Accept"]})
    with urllib.request.urlopen(request, timeout=timeout) as response:
        return bytes(response.read())


def _proc_cpu_seconds(pid: int) -> float:
    with open(f"/proc/{pid}/stat") as handle:
        fields = handle.read().rsplit(")", 1)[1].split()
    ticks = os.sysconf("SC_CLK_TCK")
    return (int(fields[11]) + int(fields[12])) / ticks


def _proc_rss_mib(pid: int) -> float:
    with open(f"/proc/{pid}/status") as handle:
        for line in handle:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return 0.0


def wait_ready(url: str, proc: subprocess.Popen[bytes] | None = None, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"exporter exited with {proc.returncode}")
        try:
            scrape_once(url, timeout=2)
            return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError(f"{url} not ready after {timeout}s")


def measure(url: str, pid: int, scrapes: int = 200, concurrent: int = 50) -> ScrapeStats:
    """Sequential scrapes for latency and CPU, then `concurrent` simultaneous ones for errors."""
    for _ in range(5):
        scrape_once(url)
    cpu_before = _proc_cpu_seconds(pid)
    latencies = []
    body = b""
    for _ in range(scrapes):
        start = time.perf_counter()
        body = scrape_once(url)
        latencies.append((time.perf_counter() - start) * 1000)
    cpu_after = _proc_cpu_seconds(pid)
    errors = 0
    with ThreadPoolExecutor(max_workers=concurrent) as pool:
        for result in pool.map(lambda _: _try_scrape(url), range(concurrent)):
            errors += 0 if result else 1
    latencies.sort()
    series = sum(1 for line in body.decode().splitlines() if line and not line.startswith("#"))
    return ScrapeStats(
        median_ms=statistics.median(latencies),
        p99_ms=latencies[min(len(latencies) - 1, int(len(latencies) * 0.99))],
        cpu_ms_per_scrape=(cpu_after - cpu_before) * 1000 / scrapes,
        rss_mib=_proc_rss_mib(pid),
        errors_concurrent=errors,
        series=series,
    )


def _try_scrape(url: str) -> bool:
    try:
        return bool(scrape_once(url, timeout=30))
    except OSError:
        return False


def spawn_exporter(
    args: Sequence[str], port: int, env: dict[str, str] | None = None
) -> subprocess.Popen[bytes]:
    """Start `python -m exporter` as its own process, so RSS and CPU are the exporter's alone."""
    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "exporter",
            f"--web.listen-address=127.0.0.1:{port}",
            "--log.level=warn",
            *args,
        ],
        env={**os.environ, **(env or {})},
    )


def stop(process: subprocess.Popen[Any], timeout: float = 10) -> None:
    """Terminate `process`, killing it when it does not exit within `timeout` seconds."""
    process.terminate()
    try:
        process.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(timeout=10)


def self_rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024

"""Robustness of the HTTP front and the collectors' isolation, each against an exporter process of its own.

- memory: RSS before and after 10,000 scrapes, of the HTTP front alone and of a fake 8-GPU node
  (goal: flat within 1 MiB);
- a burst: 200 scrapes released together (goal: all answered within 2 s);
- faults: 50 concurrent scrapes while TF Serving targets are down, slow, garbage and huge, and an MLflow
  stub cycles through the same faults (goal: no scrape fails; p99 printed).
"""

from __future__ import annotations

import contextlib
import http.server
import itertools
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from benchmarks.harness import _proc_rss_mib, scrape_once, spawn_exporter, stop, wait_ready
from tests.helpers import free_port

SCRAPES, WARMUP, CLIENTS = 10_000, 2_000, 4
BURST, BURST_GOAL_S = 200, 2.0
CONCURRENT, ROUNDS, SCRAPE_TIMEOUT = 50, 6, 10.0
RSS_GOAL_MIB = 1.0
TF_FAULTS = ("--delay=5", "--fault=garbage", "--fault=huge", "--fault=stall")
MLFLOW_FAULTS = ("down", "slow", "garbage", "huge")
MLFLOW_HUGE_BYTES = 16 * 1024 * 1024


@contextlib.contextmanager
def _exporter(args: list[str]) -> Iterator[tuple[str, int]]:
    port = free_port()
    proc = spawn_exporter(args, port)
    try:
        url = f"http://127.0.0.1:{port}/metrics"
        wait_ready(url, proc)
        yield url, proc.pid
    finally:
        stop(proc)


def _scrape_ok(url: str, timeout: float = SCRAPE_TIMEOUT) -> float | None:
    """Seconds one scrape took, None when it failed (an error status, a reset, a timeout)."""
    started = time.perf_counter()
    try:
        scrape_once(url, timeout=timeout)
    except OSError:
        return None
    return time.perf_counter() - started


def _memory(label: str, url: str, pid: int) -> None:
    """RSS growth once warm: the first scrapes fill caches and the allocator's arenas, which is no leak."""
    for _ in range(WARMUP):
        scrape_once(url)
    before = _proc_rss_mib(pid)
    with ThreadPoolExecutor(CLIENTS) as pool:
        failed = sum(r is None for r in pool.map(lambda _: _scrape_ok(url), range(SCRAPES)))
    after = _proc_rss_mib(pid)
    verdict = "ok" if after - before <= RSS_GOAL_MIB and not failed else "MISSED"
    print(
        f"memory, {label}: rss over {SCRAPES} scrapes ({CLIENTS} clients, after {WARMUP} to warm up): "
        f"start {before:.1f} MiB, "
        f"end {after:.1f} MiB, growth {after - before:+.2f} MiB, failed {failed} "
        f"(goal: within {RSS_GOAL_MIB:g} MiB): {verdict}",
        flush=True,
    )


def _burst(url: str) -> None:
    barrier = threading.Barrier(BURST + 1)

    def scrape_together(_: int) -> float | None:
        barrier.wait()
        return _scrape_ok(url, timeout=30)

    with ThreadPoolExecutor(BURST) as pool:
        results = pool.map(scrape_together, range(BURST))
        barrier.wait()
        started = time.perf_counter()
        answered = sum(r is not None for r in results)
        wall = time.perf_counter() - started
    verdict = "ok" if answered == BURST and wall < BURST_GOAL_S else "MISSED"
    print(
        f"burst: {BURST} scrapes released together: {answered} answered in {wall:.2f} s "
        f"(goal: all within {BURST_GOAL_S:g} s): {verdict}",
        flush=True,
    )


class _MlflowStub(http.server.ThreadingHTTPServer):
    """Plays a failing MLflow: the fault changes every `period` seconds, in MLFLOW_FAULTS order."""

    daemon_threads = True

    def __init__(self, period: float = 1.0) -> None:
        super().__init__(("127.0.0.1", 0), _MlflowHandler)
        self.period, self.started = period, time.monotonic()
        self.url = f"http://127.0.0.1:{self.server_address[1]}"

    def handle_error(self, request: object, client_address: object) -> None:
        pass  # the exporter hanging up on a slow or huge answer is the point

    def fault(self) -> str:
        return MLFLOW_FAULTS[int((time.monotonic() - self.started) / self.period) % len(MLFLOW_FAULTS)]


class _MlflowHandler(http.server.BaseHTTPRequestHandler):
    server: _MlflowStub

    def do_GET(self) -> None:
        fault = self.server.fault()
        if fault == "down":
            self.close_connection = True  # closed unanswered, as a crashed server behind a proxy
            return
        if fault == "slow":
            time.sleep(5)
        body = b'{"registered_models": [' if fault == "garbage" else b'{"registered_models": []}'
        size = MLFLOW_HUGE_BYTES if fault == "huge" else len(body)
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(size))
        self.end_headers()
        with contextlib.suppress(OSError):  # the exporter may give up on a huge body
            self.wfile.write(body)
            padding = size - len(body)
            for start in range(0, padding, 65536):
                self.wfile.write(b" " * min(65536, padding - start))

    do_POST = do_GET

    def log_message(self, format: str, *args: object) -> None:
        pass


def _simulator(flag: str | None) -> tuple[subprocess.Popen[str], str]:
    command = [sys.executable, "-m", "exporter.tfserving.simulator", "--port=0", "--model=m:1"]
    proc = subprocess.Popen(  # stderr: the simulator reports every connection the exporter dropped
        [*command, *([flag] if flag else [])], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True
    )
    assert proc.stdout is not None
    line = proc.stdout.readline()  # "tfserving simulator listening on http://127.0.0.1:PORT"
    if "listening on" not in line:
        proc.kill()
        raise RuntimeError(f"simulator did not start: {line!r}")
    return proc, line.rsplit(" ", 1)[1].strip()


def _faults() -> None:
    simulators = [_simulator(flag) for flag in (None, *TF_FAULTS)]
    stub = _MlflowStub()
    threading.Thread(target=stub.serve_forever, daemon=True).start()
    try:
        targets = [url for _, url in simulators] + [f"http://127.0.0.1:{free_port()}"]  # the last one: down
        with tempfile.TemporaryDirectory(prefix="bench-robustness-") as tmp:
            config = Path(tmp) / "exporter.yaml"
            config.write_text("mlflow: {request_timeout: 1s, scrape_wait: 1s}\n")
            args = [
                "--gpu.backend=fake",
                "--collector.tfserving",
                *(f"--tfserving.target={url}" for url in targets),
                "--tfserving.model=m",
                "--tfserving.timeout=1",
                "--collector.mlflow",
                f"--mlflow.tracking-uri={stub.url}",
                "--mlflow.refresh-interval=1s",
                f"--config.file={config}",
            ]
            with _exporter(args) as (url, _), ThreadPoolExecutor(CONCURRENT) as pool:
                latencies = list(
                    itertools.chain.from_iterable(
                        pool.map(lambda _: _scrape_ok(url), range(CONCURRENT)) for _ in range(ROUNDS)
                    )
                )
    finally:
        stub.shutdown()
        stub.server_close()
        for proc, _ in simulators:
            stop(proc)
    answered = sorted(s for s in latencies if s is not None)
    failed = len(latencies) - len(answered)
    p99 = answered[min(len(answered) - 1, int(len(answered) * 0.99))] if answered else float("nan")
    print(
        f"faults: {len(latencies)} scrapes, {CONCURRENT} at a time, TF Serving {len(targets) - 1} of "
        f"{len(targets)} targets failing, MLflow cycling {'/'.join(MLFLOW_FAULTS)}: failed {failed}, "
        f"median {statistics.median(answered) * 1000:.0f} ms, p99 {p99 * 1000:.0f} ms "
        f"(goal: none failed): {'ok' if not failed else 'MISSED'}",
        flush=True,
    )


def run() -> None:
    with _exporter(["--no-collector.gpu"]) as (url, pid):
        _memory("HTTP front alone", url, pid)
    with _exporter(["--gpu.backend=fake", "--gpu.fake-scenario=h100-8x"]) as (url, pid):
        _memory("fake 8-GPU node", url, pid)
        _burst(url)
    _faults()

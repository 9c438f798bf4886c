"""TF Serving: scrape latency with 4 simulated instances x 5 models, each process on its own."""

from __future__ import annotations

import socket
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from typing import Any

from benchmarks.harness import measure, spawn_exporter, wait_ready
from exporter.catalogue.families import FamilySet
from exporter.collector import IsolatingCollector
from exporter.plugins import PLUGINS
from exporter.tfserving.collector import TFServingCollector
from exporter.tfserving.page import parse_page
from exporter.tfserving.plugin import default_pool
from exporter.tfserving.source import TFServingClient
from exporter.tfserving.targets import Target

TARGETS = 4
MODELS = tuple(f"model{i}" for i in range(5))
GOAL_MS = 25.0


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _spawn_simulator(seed: int) -> tuple[subprocess.Popen[str], str]:
    """A simulator with traffic already served (histograms filled); returns it and its URL."""
    args = [f"--model={name}:1,2" for name in MODELS]
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "exporter.tfserving.simulator",
            "--port=0",
            f"--seed={seed}",
            "--requests=500",
            "--rps=20",
            "--batching",
            "--error-ratio=INVALID_ARGUMENT=0.02",
            *args,
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None
    line = proc.stdout.readline()  # "tfserving simulator listening on http://127.0.0.1:PORT"
    if "listening on" not in line:
        proc.kill()
        raise RuntimeError(f"simulator did not start: {line!r}")
    return proc, line.rsplit(" ", 1)[1].strip()


def _cpu_ms(action: Callable[[], object], rounds: int = 30) -> float:
    """Median CPU time of the whole process per call (pool threads included)."""
    times = []
    for _ in range(rounds):
        started = time.process_time()
        action()
        times.append((time.process_time() - started) * 1000)
    return statistics.median(times)


def _where_cpu_goes(urls: list[str]) -> str:
    """In this process, one call at a time: a page read, its parse, a status read, collect, render."""
    client = TFServingClient(default_pool(time.monotonic), 16 * 1024 * 1024)
    target, deadline = Target(urls[0], MODELS), lambda: time.monotonic() + 5
    collector = TFServingCollector(client, [Target(url, MODELS) for url in urls])
    labels = {"version": "bench", "python_version": "", "node": "", "gpu_backend": "none"}
    root = IsolatingCollector([collector], labels)
    try:
        root.render()
        text = client.http.get(urls[0] + target.metrics_path, deadline(), client.max_body_bytes)[1].decode()
        get = _cpu_ms(lambda: client.http.get(urls[0] + target.metrics_path, deadline(), 1 << 24))
        parse = _cpu_ms(lambda: parse_page(text))
        status = _cpu_ms(lambda: client.model_status(target, MODELS[0], deadline()), 100)
        collect = _cpu_ms(lambda: collector.collect(FamilySet()))
        render = _cpu_ms(root.render)
    finally:
        root.close()
    return (
        f"{'':<44} cpu in-process: page read {get:.2f} + parse {parse:.2f} ms ({text.count(chr(10))} lines), "
        f"status read {status:.2f} ms; collect {collect:.1f}, render (with collect) {render:.1f} ms"
    )


def run() -> None:
    processes: list[subprocess.Popen[Any]] = []
    try:
        urls = []
        for seed in range(TARGETS):
            proc, url = _spawn_simulator(seed)
            processes.append(proc)
            urls.append(url)
        port = _free_port()
        flags = [
            "--collector.tfserving",
            *(f"--tfserving.target={u}" for u in urls),
            *(f"--tfserving.model={m}" for m in MODELS),
        ]
        flags += [f"--no-collector.{p.name}" for p in PLUGINS if p.default_enabled and p.name != "tfserving"]
        exporter = spawn_exporter(flags, port)
        processes.append(exporter)
        scrape_url = f"http://127.0.0.1:{port}/metrics"
        wait_ready(scrape_url, exporter)
        stats = measure(scrape_url, exporter.pid)
        print(stats.line(f"tfserving {TARGETS} targets x {len(MODELS)} models"), flush=True)
        verdict = "ok" if stats.median_ms < GOAL_MS else "MISSED"
        print(f"{'':<44} goal: median under {GOAL_MS:g} ms on loopback: {verdict}", flush=True)
        print(_where_cpu_goes(urls), flush=True)
    finally:
        for proc in processes:
            proc.terminate()
        for proc in processes:
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()

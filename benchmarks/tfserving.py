"""TF Serving: scrape latency with 4 simulated instances x 5 models, each process on its own."""

from __future__ import annotations

import socket
import subprocess
import sys
from typing import Any

from benchmarks.harness import measure, spawn_exporter, wait_ready
from exporter.plugins import PLUGINS

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
            "exporter.simulators.tfserving",
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
    finally:
        for proc in processes:
            proc.terminate()
        for proc in processes:
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()

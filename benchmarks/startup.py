"""Start-up cost of the GPU-only exporter on the fake 8-GPU node, beside what every collector's imports cost.

- start: wall time from spawning `python -m exporter` to the first accepted TCP connection (the socket is
  bound before the collectors are built) and to the first answered request; median of RUNS starts. Also
  the CPU time the exporter had used when its socket first accepted: on a busy machine wall time
  mostly measures the other processes;
- RSS (VmRSS) once the server answers, before the first scrape, and after 1,000 scrapes of /metrics;
- imports: RSS and wall time of a bare interpreter importing the GPU-only exporter, and importing every
  collector's modules and dependencies (what every start paid before they were made lazy).

Bytecode is compiled before the runs, as in the image (pip compiles at build time).

Targets (issue #12): at most 26 MiB after 1,000 scrapes (nvitop-exporter, the Python peer, holds about
32 MiB) and under 150 ms to a listening socket.
"""

from __future__ import annotations

import compileall
import json
import socket
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import exporter
from benchmarks.harness import _proc_cpu_seconds, _proc_rss_mib, scrape_once, spawn_exporter
from exporter.plugins import PLUGINS
from tests.helpers import free_port, http_get

RUNS = 7
SCRAPES = 1_000
RSS_TARGET_MIB = 26.0
START_TARGET_MS = 150.0
GPU_ONLY = [
    "--gpu.backend=fake",
    "--gpu.fake-scenario=h100-8x",
    *(f"--no-collector.{plugin.name}" for plugin in PLUGINS if plugin.name != "gpu"),
]
# Everything any collector loads when enabled; the GPU-only exporter loads the first line only.
GPU_ONLY_IMPORTS = "import exporter.cli, exporter.gpu.collector, exporter.gpu.nvml, exporter.gpu.fake_nvml"
ALL_IMPORTS = (
    f"{GPU_ONLY_IMPORTS}; import exporter.mlflow.collector, exporter.tfserving.collector, "
    "exporter.attribution.collector, requests, grpc, kubernetes.client, bcrypt; "
    "from exporter.attribution.podresources_pb import api_pb2, api_pb2_grpc"
)
IMPORT_PROBE = """
import time
started = time.perf_counter()
{imports}
elapsed = time.perf_counter() - started
for line in open("/proc/self/status"):
    if line.startswith("VmRSS:"):
        print(elapsed * 1000, int(line.split()[1]) / 1024)
"""


def _until_listening(port: int, proc: subprocess.Popen[bytes], started: float) -> tuple[float, float]:
    """Milliseconds from `started` to the first accepted connection, and CPU milliseconds used by then."""
    while True:
        if proc.poll() is not None:
            raise RuntimeError(f"exporter exited with {proc.returncode}")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return (time.perf_counter() - started) * 1000, _proc_cpu_seconds(proc.pid) * 1000
        except OSError:
            time.sleep(0.001)


def _until_serving(port: int, started: float) -> float:
    """Milliseconds from `started` to the first answered request (/health: not a scrape)."""
    while http_get(f"http://127.0.0.1:{port}/health", timeout=10)[0] != 200:
        time.sleep(0.001)
    return (time.perf_counter() - started) * 1000


@dataclass
class _Start:
    listening_ms: float
    cpu_ms: float
    serving_ms: float
    proc: subprocess.Popen[bytes]
    port: int


def _start() -> _Start:
    port = free_port()
    started = time.perf_counter()
    proc = spawn_exporter(GPU_ONLY, port)
    try:
        listening, cpu = _until_listening(port, proc, started)
        return _Start(listening, cpu, _until_serving(port, started), proc, port)
    except BaseException:
        proc.kill()
        proc.wait(timeout=10)
        raise


def _stop(proc: subprocess.Popen[bytes]) -> None:
    proc.terminate()
    proc.wait(timeout=10)


def _imports(imports: str) -> tuple[float, float]:
    """(median milliseconds, median MiB) of a fresh interpreter running `imports`."""
    runs = []
    for _ in range(RUNS):
        out = subprocess.run(
            [sys.executable, "-c", IMPORT_PROBE.format(imports=imports)],
            capture_output=True,
            text=True,
            check=True,
            timeout=60,
        ).stdout.split()
        runs.append((float(out[0]), float(out[1])))
    return statistics.median(r[0] for r in runs), statistics.median(r[1] for r in runs)


def _verdict(value: float, target: float) -> str:
    return "PASS" if value <= target else f"over by {value - target:.1f}"


def _compile_bytecode() -> None:
    """Write the exporter's bytecode first, as the image does at build time: without it (this checkout
    runs with PYTHONDONTWRITEBYTECODE=1) every start compiles ~60 modules, about 50 ms that no deployed
    exporter pays."""
    package = Path(exporter.__file__).resolve().parent
    if not compileall.compile_dir(str(package), quiet=1):
        raise RuntimeError(f"cannot compile {package}")


def run() -> None:
    _compile_bytecode()
    starts = []
    for _ in range(RUNS - 1):
        starts.append(_start())
        _stop(starts[-1].proc)
    last = _start()
    starts.append(last)
    try:
        before = _proc_rss_mib(last.proc.pid)
        url = f"http://127.0.0.1:{last.port}/metrics"
        for _ in range(SCRAPES):
            scrape_once(url)
        after = _proc_rss_mib(last.proc.pid)
    finally:
        _stop(last.proc)
    listen_ms = statistics.median(s.listening_ms for s in starts)
    cpu_ms = statistics.median(s.cpu_ms for s in starts)
    serve_ms = statistics.median(s.serving_ms for s in starts)
    gpu_ms, gpu_mib = _imports(GPU_ONLY_IMPORTS)
    all_ms, all_mib = _imports(ALL_IMPORTS)
    bare_ms, bare_mib = _imports("pass")
    print(f"startup: GPU-only exporter, fake h100-8x, median of {RUNS} starts", flush=True)
    print(
        f"  to a listening socket   {listen_ms:7.0f} ms   target {START_TARGET_MS:.0f} ms: "
        f"{_verdict(listen_ms, START_TARGET_MS)}"
    )
    print(f"  CPU used by then        {cpu_ms:7.0f} ms")
    print(f"  to the first answer     {serve_ms:7.0f} ms")
    print(f"  RSS before first scrape {before:7.1f} MiB")
    print(
        f"  RSS after {SCRAPES:,} scrapes {after:7.1f} MiB  target {RSS_TARGET_MIB:.0f} MiB: "
        f"{_verdict(after, RSS_TARGET_MIB)}  (nvitop-exporter: about 32 MiB)"
    )
    print("  imports only (fresh interpreter, median):")
    print(f"    bare python            {bare_ms:6.0f} ms {bare_mib:6.1f} MiB")
    print(f"    GPU-only exporter      {gpu_ms:6.0f} ms {gpu_mib:6.1f} MiB")
    print(f"    every collector        {all_ms:6.0f} ms {all_mib:6.1f} MiB")
    print(
        "  "
        + json.dumps(
            {
                "listen_ms": round(listen_ms),
                "listen_cpu_ms": round(cpu_ms),
                "serve_ms": round(serve_ms),
                "rss_before_mib": round(before, 1),
                "rss_after_mib": round(after, 1),
            }
        ),
        flush=True,
    )

"""Attribution: scrape latency of 8 fake H100s shared by 4 pods each (time-slicing), with a real gRPC kubelet
and per-process attribution over a fake /proc, against the same node without attribution."""

from __future__ import annotations

import multiprocessing
import os
import socket
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

from benchmarks.harness import ScrapeStats, measure, spawn_exporter, stop, wait_ready
from exporter.attribution.fake_kubelet import FakeContainer, FakeKubelet, FakePod
from exporter.gpu.fake_nvml import load
from exporter.plugins import PLUGINS

GPUS = 8
PODS_PER_GPU = 4
GOAL_MS = 10.0
SCENARIO = f"""description: {GPUS}x H100, each time-sliced between {PODS_PER_GPU} pods
gpus:
  - count: {GPUS}
    model: H100-SXM5-80GB
    utilization: {{wave: {{low: 0.6, high: 0.95, period: 30}}}}
    processes:
""" + "".join(
    f"      - {{pid: {60000 + 100 * slot}, used_memory_gib: {4 + slot}, sm_util: {0.1 + 0.05 * slot:.2f}}}\n"
    for slot in range(PODS_PER_GPU)
)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _node(root: Path) -> tuple[Path, Path, list[FakePod]]:
    """The scenario file, a /proc with each process in its own pod's cgroup, and the kubelet's pods."""
    scenario = root / "shared-h100.yaml"
    scenario.write_text(SCENARIO)
    pods: list[FakePod] = []
    for gpu in load(str(scenario)).gpus:
        for slot in range(PODS_PER_GPU):
            uid = str(uuid.uuid5(uuid.NAMESPACE_URL, f"bench/{gpu.index}/{slot}"))
            pid = 60000 + 100 * slot + gpu.index  # the scenario steps pids by the GPU's position
            cgroup = root / "proc" / str(pid) / "cgroup"
            cgroup.parent.mkdir(parents=True)
            slice_ = f"kubepods-burstable-pod{uid.replace('-', '_')}.slice"
            cgroup.write_text(
                f"0::/kubepods.slice/kubepods-burstable.slice/{slice_}/cri-containerd-{pid}.scope\n"
            )
            device = f"{gpu.uuid}::{slot}"
            pods.append(
                FakePod(
                    "bench",
                    f"job-{gpu.index}-{slot}",
                    [FakeContainer("main", [("nvidia.com/gpu", [device])])],
                )
            )
    return scenario, root / "proc", pods


def _run(flags: list[str]) -> ScrapeStats:
    port = _free_port()
    others = [f"--no-collector.{p.name}" for p in PLUGINS if p.default_enabled and p.name != "gpu"]
    exporter = spawn_exporter([*flags, *others], port)
    try:
        url = f"http://127.0.0.1:{port}/metrics"
        wait_ready(url, exporter)
        return measure(url, exporter.pid)
    finally:
        stop(exporter)


def _serve_kubelet(pods: list[FakePod], socket_path: str, stop: Any) -> None:
    kubelet = FakeKubelet(pods)
    kubelet.socket_path = socket_path
    kubelet.start()
    stop.wait()
    kubelet.cleanup()


def _kubelet_process(pods: list[FakePod], root: Path) -> tuple[Any, Any, str]:
    """The fake kubelet in a process of its own, as the real one is: it must not share the scraper's GIL."""
    context = multiprocessing.get_context("spawn")
    stop = context.Event()
    socket_path = str(root / "kubelet.sock")
    process = context.Process(target=_serve_kubelet, args=(pods, socket_path, stop), daemon=True)
    process.start()
    deadline = time.monotonic() + 30
    while not os.path.exists(socket_path):
        if time.monotonic() > deadline or not process.is_alive():
            raise RuntimeError("the fake kubelet did not start")
        time.sleep(0.05)
    return process, stop, socket_path


def run() -> None:
    with tempfile.TemporaryDirectory(prefix="bench-attr-", dir="/tmp") as tmp:
        scenario, proc, pods = _node(Path(tmp))
        kubelet, stop, socket_path = _kubelet_process(pods, Path(tmp))
        try:
            gpu_flags = ["--gpu.backend=fake", f"--gpu.fake-scenario={scenario}"]
            base = _run(gpu_flags)
            print(base.line(f"gpu only, {GPUS} GPUs"), flush=True)
            stats = _run([
                *gpu_flags, "--collector.attribution", "--attribution.processes",
                f"--attribution.pod-resources-socket={socket_path}",
                f"--attribution.proc-root={proc}",
            ])  # fmt: skip
            label = f"gpu + attribution, {GPUS} GPUs x {PODS_PER_GPU} pods"
            print(stats.line(label), flush=True)
            print(f"{'':<44} attribution adds {stats.median_ms - base.median_ms:.2f} ms (median)", flush=True)
            verdict = "ok" if stats.median_ms < GOAL_MS else "MISSED"
            print(f"{'':<44} goal: median under {GOAL_MS:g} ms with attribution on: {verdict}", flush=True)
        finally:
            stop.set()
            kubelet.join(timeout=10)

"""Run the exporter on this machine's NVIDIA GPU(s), scrape it and check the output.

    bash tests/device/run.sh                  # real GPUs: --gpu.backend=nvml
    bash tests/device/run.sh --backend=fake   # this script itself, on the fake h100-8x node

Checks the scrape with the same invariants as the fake-scenario tests (tests/gpu_invariants.py),
compares GPU count, UUIDs and memory sizes with NVML read directly by this script, runs
`promtool check metrics` when promtool is installed, and prints the scrape and a PASS/FAIL summary.
Exit status 0 on PASS, 1 on FAIL, 2 when it could not run at all. Finishes within 60 s.
"""

from __future__ import annotations

import argparse
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from tests.gpu_invariants import check_progress, check_scrape, parse  # noqa: E402


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def get(url: str, timeout: float = 10) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode()


def direct_nvml(backend: str) -> Any:
    """NVML as this script reads it, independently of the exporter: pynvml, or the same fake scenario."""
    if backend == "fake":
        from exporter.gpu.fake_nvml import FakeNvml, load

        return FakeNvml(load("h100-8x"))
    import pynvml

    return pynvml


def cross_check(text: str, nvml: Any) -> list[str]:
    """GPU count, UUIDs and memory totals in the scrape equal what NVML itself says."""
    series = parse(text)
    exported = {
        dict(labels)["gpu"]: dict(labels)["uuid"]
        for (name, labels), _ in series.items()
        if name == "nvidia_gpu_info"
    }
    totals = {
        dict(labels)["uuid"]: value
        for (name, labels), value in series.items()
        if name == "nvidia_gpu_memory_total_bytes"
    }
    problems = []
    nvml.nvmlInit()
    try:
        count = nvml.nvmlDeviceGetCount()
        if len(exported) != count:
            problems.append(f"NVML counts {count} GPU(s), the exporter reports {len(exported)}")
        for index in range(count):
            handle = nvml.nvmlDeviceGetHandleByIndex(index)
            uuid = nvml.nvmlDeviceGetUUID(handle)
            uuid = uuid.decode() if isinstance(uuid, bytes) else uuid
            if exported.get(str(index)) != uuid:
                problems.append(f"GPU {index}: NVML UUID {uuid}, exported {exported.get(str(index))}")
            total = nvml.nvmlDeviceGetMemoryInfo(handle).total
            if uuid in totals and totals[uuid] != total:
                problems.append(f"GPU {index}: NVML memory total {total}, exported {totals[uuid]}")
    finally:
        nvml.nvmlShutdown()
    return problems


def promtool(text: str) -> tuple[str, list[str]]:
    tool = shutil.which("promtool")
    if tool is None:
        return "promtool not installed: skipped", []
    result = subprocess.run(
        [tool, "check", "metrics"], input=text, capture_output=True, text=True, timeout=20
    )
    output = (result.stdout + result.stderr).strip()
    return "promtool check metrics: " + ("clean" if not output else "complaints"), [output] if output else []


def other_collectors_off() -> list[str]:
    from exporter.plugins import PLUGINS

    return [f"--no-collector.{p.name}" for p in PLUGINS if p.name != "gpu"]


def main() -> int:
    options = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    options.add_argument("--backend", choices=("nvml", "fake"), default="nvml")
    backend = options.parse_args().backend
    deadline = time.monotonic() + 30  # to serve; the rest takes under 15 s
    port = free_port()
    argv = [sys.executable, "-m", "exporter", f"--gpu.backend={backend}"]
    argv += [f"--web.listen-address=127.0.0.1:{port}", *other_collectors_off()]
    print("$", " ".join(argv[1:]), flush=True)
    proc = subprocess.Popen(argv, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    base = f"http://127.0.0.1:{port}"
    problems: list[str] = []
    notes: list[str] = []
    first = second = ""
    try:
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                raise RuntimeError(f"the exporter exited with {proc.returncode} before serving")
            try:
                status, first = get(f"{base}/metrics", timeout=5)
                if status == 200:
                    break
            except OSError:
                pass
            time.sleep(0.2)
        else:
            raise RuntimeError("the exporter did not serve /metrics in time")
        started = time.monotonic()
        time.sleep(3)  # let the driver take new utilization samples between the two scrapes
        status, second = get(f"{base}/metrics", timeout=10)
        elapsed = time.monotonic() - started
        if status != 200:
            problems.append(f"/metrics returned {status}")
        health_status, health = get(f"{base}/health")
        if health_status != 200:
            problems.append(f"/health returned {health_status}: {health}")
        problems += check_scrape(second, backend=backend, healthy=True)
        problems += check_progress(first, second, elapsed_seconds=elapsed)
        problems += cross_check(second, direct_nvml(backend))
        note, complaints = promtool(second)
        notes.append(note)
        problems += complaints
    except Exception as exc:  # report, then still print what we have
        problems.append(f"{type(exc).__name__}: {exc}")
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            log, _ = proc.communicate(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            log, _ = proc.communicate()
            problems.append("the exporter did not stop within 10 s of SIGTERM")
    print("---- exporter log", flush=True)
    print(log.rstrip())
    print("---- scrape", flush=True)
    print((second or first).rstrip())
    print("----")
    series = parse(second) if second else {}
    gpus = sum(1 for name, _ in series if name == "nvidia_gpu_info")
    print(f"backend={backend} gpus={gpus} series={len(series)} exporter_exit={proc.returncode}")
    for note in notes:
        print(note)
    if problems:
        print(f"FAIL: {len(problems)} problem(s)")
        for problem in problems:
            print(f"  - {problem}")
        return 1
    print("PASS")
    return 0


if __name__ == "__main__":
    sys.exit(main())

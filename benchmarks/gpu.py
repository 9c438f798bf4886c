"""GPU collector alone, in its own exporter process, on fake H100 nodes of 1, 8 and 16 GPUs.

Targets (2-core machine): median scrape under 5 ms with 8 GPUs, RSS under 64 MiB, no error under
50 concurrent scrapes.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

from benchmarks.harness import measure, spawn_exporter, stop, wait_ready
from exporter.plugins import PLUGINS
from tests.helpers import free_port

SIZES = (1, 8, 16)
SCENARIO = """\
description: {count}x H100 benchmark node
gpus:
  - count: {count}
    model: H100-SXM5-80GB
    utilization: {{wave: {{low: 0.7, high: 0.99, period: 30}}}}
    ecc: {{corrected_aggregate: 2}}
    processes:
      - {{pid: 41000, used_memory_gib: 70.0, sm_util: 0.9}}
"""


def run() -> None:
    only_gpu = [f"--no-collector.{p.name}" for p in PLUGINS if p.name != "gpu"]
    with tempfile.TemporaryDirectory(prefix="bench-gpu-") as tmp:
        for count in SIZES:
            scenario = Path(tmp) / f"h100-{count}x.yaml"
            scenario.write_text(SCENARIO.format(count=count))
            port = free_port()
            args = ["--gpu.backend=fake", f"--gpu.fake-scenario={scenario}", *only_gpu]
            proc = spawn_exporter(args, port)
            try:
                url = f"http://127.0.0.1:{port}/metrics"
                wait_ready(url, proc)
                stats = measure(url, proc.pid, scrapes=300, concurrent=50)
            finally:
                stop(proc)
            print(stats.line(f"gpu: {count:2d} fake H100 GPU(s)"), flush=True)

"""tests/device/run.sh, the real-hardware check, exercised here on the fake backend so it cannot rot."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_device_script_passes_on_the_fake_node_and_prints_the_scrape() -> None:
    result = subprocess.run(
        ["bash", "tests/device/run.sh", "--backend=fake"],
        cwd=ROOT,
        env={**os.environ, "PYTHON": sys.executable},
        capture_output=True,
        text=True,
        timeout=90,
        check=False,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-2000:]
    assert result.stdout.rstrip().endswith("PASS")
    assert "backend=fake gpus=8" in result.stdout
    assert "\nnvidia_gpu_info{" in result.stdout

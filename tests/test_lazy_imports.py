"""Pay only for what runs: a collector's heavy dependencies load only when that collector is built."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
HEAVY = (
    *("grpc", "google.protobuf", "requests", "urllib3", "kubernetes", "prometheus_client", "bcrypt"),
    *("ssl", "http.client", "hashlib"),  # OpenSSL: TLS, basic auth, MLflow and TF Serving clients only
    # The collectors of the plugins that are off.
    *("exporter.attribution.collector", "exporter.tfserving.collector", "exporter.mlflow.collector"),
)
FAKE_GPU = "--gpu.backend=fake"
GPU_ONLY = [FAKE_GPU, "--no-collector.mlflow", "--no-collector.tfserving", "--no-collector.attribution"]

# A fresh interpreter (this one has the tests' imports): parse, build the collectors as the exporter does,
# scrape once, and list which heavy modules got loaded.
PROBE = """
import json, sys
from exporter import cli
from exporter.app import build_root
from exporter.plugin import BuildContext
from exporter.plugins import PLUGINS
from exporter.settings import parse

settings = parse(sys.argv[2:], {}, PLUGINS)
root = build_root(settings, PLUGINS, BuildContext(node_name="node-a", environ={}))
root.render()
root.close()
print(json.dumps(sorted(name for name in json.loads(sys.argv[1]) if name in sys.modules)))
"""


def loaded_after_start(argv: Sequence[str]) -> list[str]:
    result = subprocess.run(
        [sys.executable, "-c", PROBE, json.dumps(HEAVY), *argv],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    loaded: list[str] = json.loads(result.stdout.splitlines()[-1])
    return loaded


def test_a_gpu_only_start_loads_no_other_collectors_dependencies() -> None:
    assert loaded_after_start(GPU_ONLY) == []


def test_the_mlflow_collector_loads_requests_when_enabled() -> None:
    argv = [FAKE_GPU, "--no-collector.tfserving", "--no-collector.attribution", "--collector.mlflow"]
    argv.append("--mlflow.tracking-uri=http://127.0.0.1:9")
    assert {"requests", "urllib3"} <= set(loaded_after_start(argv))

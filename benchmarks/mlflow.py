"""MLflow collector against a real tracking server seeded with 200 models x 10 versions.

Seeds the server over its REST API (the same API the mlflow client uses), then measures
- the refresh: every section read from the real server (median of a few, in-process);
- scrapes with a warm snapshot, in the exporter's own process (target: median under 10 ms).
"""

from __future__ import annotations

import statistics
import tempfile
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import requests
import yaml

from benchmarks.harness import measure, scrape_once, spawn_exporter, stop, wait_ready
from demo.mlflow_server import start_mlflow_server, stop_mlflow_server
from exporter.catalogue.families import FamilySet
from exporter.collector import IsolatingCollector
from exporter.mlflow.collector import MlflowCollector
from exporter.plugin import BuildContext
from exporter.plugins import PLUGINS
from exporter.settings import parse
from tests.helpers import free_port

MODELS, VERSIONS, TRAINING_RUNS = 200, 10, 100
CONFIG = {
    "registry": {"max_versions_per_model": VERSIONS, "baseline_metrics": ["val_auc"]},
    "training": {"experiments": ["bench-training"]},
}


class _Seeder:
    def __init__(self, url: str) -> None:
        self.api = f"{url}/api/2.0/mlflow/"
        self.now_ms = int(time.time() * 1000)

    def call(self, session: requests.Session, endpoint: str, body: dict[str, Any]) -> dict[str, Any]:
        response = session.post(self.api + endpoint, json=body, timeout=60)
        response.raise_for_status()
        result: dict[str, Any] = response.json()
        return result

    def run(
        self, session: requests.Session, experiment_id: str, status: str, age_s: int, **data: Any
    ) -> dict[str, Any]:
        start = self.now_ms - age_s * 1000
        info: dict[str, Any] = self.call(
            session, "runs/create", {"experiment_id": experiment_id, "start_time": start}
        )["run"]["info"]
        if data:
            self.call(session, "runs/log-batch", {"run_id": info["run_id"], **data})
        self.call(
            session, "runs/update", {"run_id": info["run_id"], "status": status, "end_time": start + 600_000}
        )
        return info

    def model(self, index: int, builds: str, monitoring: str) -> None:
        session, name = requests.Session(), f"bench-model-{index:03d}"
        metric = {"key": "val_auc", "value": 0.8, "timestamp": self.now_ms, "step": 0}
        run = self.run(session, builds, "FINISHED", 3600, metrics=[metric])
        self.call(session, "registered-models/create", {"name": name})
        version = {"name": name, "source": f"{run['artifact_uri']}/model", "run_id": run["run_id"]}
        for _ in range(VERSIONS):
            self.call(session, "model-versions/create", version)
        for alias, number in (("production", VERSIONS - 1), ("champion", VERSIONS)):
            self.call(
                session, "registered-models/alias", {"name": name, "alias": alias, "version": str(number)}
            )
        metrics = [
            {"key": key, "value": 0.1, "timestamp": self.now_ms, "step": 0}
            for key in ("psi", "psi.age", "psi.income", "share_drifted_features", "accuracy")
        ]
        tags = [
            {"key": "mlobs.model_name", "value": name},
            {"key": "mlobs.model_version", "value": str(VERSIONS - 1)},
        ]
        self.run(session, monitoring, "FINISHED", 1800, metrics=metrics, tags=tags)

    def seed(self) -> None:
        session = requests.Session()
        ids = {
            name: self.call(session, "experiments/create", {"name": name})["experiment_id"]
            for name in ("bench-builds", "bench-monitoring", "bench-training")
        }
        statuses = ("FINISHED",) * 8 + ("FAILED", "KILLED")
        for i in range(TRAINING_RUNS):
            self.run(session, ids["bench-training"], statuses[i % len(statuses)], 3600 * (i + 1))
        with ThreadPoolExecutor(4) as pool:
            list(
                pool.map(lambda i: self.model(i, ids["bench-builds"], ids["bench-monitoring"]), range(MODELS))
            )


def _collector(url: str, config_path: Path, interval: str) -> MlflowCollector:
    argv = ["--collector.mlflow", f"--mlflow.tracking-uri={url}", f"--config.file={config_path}"]
    plugin = next(p for p in PLUGINS if p.name == "mlflow")
    settings = parse([*argv, f"--mlflow.refresh-interval={interval}"], {}, [plugin])
    collector = plugin.build(settings.collectors["mlflow"], BuildContext(node_name="", environ={}))
    assert isinstance(collector, MlflowCollector)
    return collector


def _median_ms(action: Callable[[], object], rounds: int) -> float:
    durations = []
    for _ in range(rounds):
        started = time.perf_counter()
        action()
        durations.append(time.perf_counter() - started)
    return statistics.median(durations) * 1000


def _refresh_ms(url: str, config_path: Path, rounds: int = 5) -> float:
    """Refreshes through the public path: a scrape that finds the data due waits for the refresh."""
    collector = _collector(url, config_path, "1ms")
    try:
        return _median_ms(lambda: collector.collect(FamilySet()), rounds)
    finally:
        collector.close()


def _split_ms(url: str, config_path: Path, rounds: int = 30) -> tuple[float, float]:
    """Where a warm scrape's time goes: the collector's own work, and the whole render the HTTP path does."""
    collector = _collector(url, config_path, "1h")
    try:
        assert collector.collect(FamilySet()), collector.health().detail
        labels = {"version": "bench", "python_version": "", "node": "", "gpu_backend": "none"}
        root = IsolatingCollector([collector], labels)
        return _median_ms(lambda: collector.collect(FamilySet()), rounds), _median_ms(root.render, rounds)
    finally:
        collector.close()


def _wait_for_snapshot(url: str, timeout: float = 300) -> None:
    """Measure only once the first refresh has finished: the snapshot is then warm."""
    deadline = time.monotonic() + timeout
    while b"mlflow_up 1.0" not in scrape_once(url, timeout=timeout):
        if time.monotonic() > deadline:
            raise RuntimeError(f"no complete MLflow snapshot after {timeout}s")
        time.sleep(0.5)


def run() -> None:
    with tempfile.TemporaryDirectory(prefix="bench-mlflow-") as tmp:
        root = Path(tmp)
        server = start_mlflow_server(root / "server", workers=2)
        try:
            started = time.perf_counter()
            _Seeder(server.url).seed()
            print(
                f"mlflow: seeded {MODELS}x{VERSIONS} versions in {time.perf_counter() - started:.0f} s",
                flush=True,
            )
            config_path = root / "exporter.yaml"
            config_path.write_text(yaml.safe_dump({"mlflow": {**CONFIG, "scrape_wait": "120s"}}))
            refresh = _refresh_ms(server.url, config_path)
            print(f"mlflow: refresh from the real server (all sections): median {refresh:.0f} ms", flush=True)
            collect, render = _split_ms(server.url, config_path)
            print(
                f"mlflow: warm scrape in-process (median): collector {collect:.1f} ms, "
                f"text rendering {render - collect:.1f} ms",
                flush=True,
            )
            port = free_port()
            others = [f"--no-collector.{p.name}" for p in PLUGINS if p.name != "mlflow"]
            args = [
                "--collector.mlflow",
                f"--mlflow.tracking-uri={server.url}",
                f"--config.file={config_path}",
                *others,
            ]
            proc = spawn_exporter([*args, "--mlflow.refresh-interval=1h"], port)
            try:
                url = f"http://127.0.0.1:{port}/metrics"
                wait_ready(url, proc)
                _wait_for_snapshot(url)
                stats = measure(url, proc.pid, scrapes=300, concurrent=50)
            finally:
                stop(proc)
            print(stats.line(f"mlflow: warm snapshot, {MODELS}x{VERSIONS}"), flush=True)
        finally:
            stop_mlflow_server(server)

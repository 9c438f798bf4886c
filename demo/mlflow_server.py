"""A real `mlflow server` on a free loopback port with a sqlite store, and the helpers that write to it with
the real mlflow client (tests' datasets and the demo's are both written through `Writer`)."""

from __future__ import annotations

import contextlib
import io
import logging
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from demo.processes import Child, answers, free_port, launch, stop, wait_until

MLFLOW = str(Path(sys.executable).with_name("mlflow"))
HOUR, DAY = 3600.0, 86400.0


@dataclass
class MlflowServer:
    url: str
    db: Path
    child: Child
    root: Path
    argv: Sequence[str] = ()
    env: Mapping[str, str] = field(default_factory=dict)

    @property
    def log(self) -> Path:
        return self.child.log


def launch_mlflow_server(
    root: Path, extra_args: Sequence[str] = (), env: Mapping[str, str] | None = None, workers: int = 1
) -> MlflowServer:
    """Start `mlflow server` under `root`; not yet healthy (a first start takes 30-60 s here)."""
    root.mkdir(parents=True, exist_ok=True)
    port = free_port()
    db = root / "mlflow.db"
    argv = [MLFLOW, "server", "--host", "127.0.0.1", "--port", str(port), "--workers", str(workers)]
    argv += ["--backend-store-uri", f"sqlite:///{db}", "--default-artifact-root", str(root / "artifacts")]
    argv += extra_args
    child = launch("mlflow", argv, root / "server.log", env, cwd=root)
    return MlflowServer(f"http://127.0.0.1:{port}", db, child, root, argv, dict(env or {}))


def wait_healthy(server: MlflowServer, timeout: float = 120) -> None:
    wait_until(lambda: answers(f"{server.url}/health", b"OK"), timeout, "mlflow server healthy", server.child)


def start_mlflow_server(root: Path, workers: int = 1) -> MlflowServer:
    """A plain server, healthy on return."""
    server = launch_mlflow_server(root, workers=workers)
    try:
        wait_healthy(server)
    except BaseException:
        stop_mlflow_server(server)
        raise
    return server


def stop_mlflow_server(*servers: MlflowServer) -> None:
    """Stop servers we started, by their process groups (the server forks workers)."""
    stop(*(server.child for server in servers))


def restart(server: MlflowServer) -> None:
    """Start a stopped server again on its port and store; healthy on return."""
    server.child = launch("mlflow", server.argv, server.child.log, server.env, cwd=server.root)
    wait_healthy(server)


def ms(seconds: float) -> int:
    return int(seconds * 1000)


class Writer:
    """Runs, versions and metrics written with the real client, at given times (epoch seconds)."""

    def __init__(self, url: str) -> None:
        from mlflow import MlflowClient  # the exporter never imports mlflow; only tests and the demo do

        logging.getLogger("mlflow.store.model_registry.abstract_store").setLevel(logging.WARNING)
        self.client: Any = MlflowClient(tracking_uri=url)
        self._experiments: dict[str, str] = {}

    def experiment(self, name: str) -> str:
        if name not in self._experiments:
            found = self.client.get_experiment_by_name(name)
            self._experiments[name] = found.experiment_id if found else self.client.create_experiment(name)
        return self._experiments[name]

    def run(self, experiment: str, start: float, end: float | None, status: str, **tags: str) -> str:
        """A run of `experiment` (a name), ended with `status` at `end` unless `end` is None (RUNNING)."""
        created = self.client.create_run(self.experiment(experiment), start_time=ms(start), tags=tags)
        if end is not None:
            # It prints links to the run for a person at a terminal: noise in a dataset's hundreds of runs.
            with contextlib.redirect_stdout(io.StringIO()):
                self.client.set_terminated(created.info.run_id, status, end_time=ms(end))
        return str(created.info.run_id)

    def metrics(self, run_id: str, at: float, values: Mapping[str, float]) -> None:
        for key, value in values.items():
            self.client.log_metric(run_id, key, value, timestamp=ms(at))

    def version(self, model: str, run_id: str) -> tuple[int, float]:
        """Register the run's model as a new version of `model`: (version, creation time)."""
        source = f"{self.client.get_run(run_id).info.artifact_uri}/model"
        mv = self.client.create_model_version(model, source=source, run_id=run_id)
        return int(mv.version), mv.creation_timestamp / 1000

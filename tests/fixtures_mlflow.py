"""Session fixtures for the MLflow collector: real tracking servers (plain and basic-auth), a seeded
dataset written with the real mlflow client, and a fault-injecting proxy in front of the real server."""

from __future__ import annotations

import base64
import contextlib
import json
import secrets
import sqlite3
import ssl
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
import requests
import yaml

from demo.mlflow_server import (
    DAY,
    HOUR,
    MlflowServer,
    Writer,
    launch_mlflow_server,
    ms,
    stop_mlflow_server,
    wait_healthy,
)
from exporter.app import Exporter
from exporter.mlflow.collector import MlflowCollector
from exporter.mlflow.plugin import MLFLOW_PLUGIN
from exporter.plugin import BuildContext
from tests.helpers import running_exporter

# A token the real server accepts (offset 1, as it refuses 0): in `endless` mode only repeating it is wrong.
LOOPING_PAGE_TOKEN = base64.b64encode(json.dumps({"offset": 1}).encode()).decode()


@dataclass
class AuthServer:
    server: MlflowServer
    username: str
    password: str


def launch_auth_server(root: Path) -> AuthServer:
    """`mlflow server --app-name basic-auth`; MLflow 3 ships no admin password, so the env var sets one."""
    root.mkdir(parents=True, exist_ok=True)
    config = root / "basic_auth.ini"
    config.write_text(
        "[mlflow]\ndefault_permission = READ\n"
        f"database_uri = sqlite:///{root / 'auth.db'}\n"
        "authorization_function = mlflow.server.auth:authenticate_request_basic_auth\n"
        # Each password check is a deliberately slow PBKDF2; caching it keeps the suite quick.
        "auth_cache_ttl_seconds = 300\n"
    )
    username, password = "exporter-admin", secrets.token_urlsafe(18)
    env = {
        "MLFLOW_AUTH_CONFIG_PATH": str(config),
        "MLFLOW_AUTH_ADMIN_USERNAME": username,
        "MLFLOW_AUTH_ADMIN_PASSWORD": password,
        "MLFLOW_FLASK_SERVER_SECRET_KEY": secrets.token_hex(16),  # the auth app's CSRF key, required
    }
    return AuthServer(launch_mlflow_server(root, ("--app-name", "basic-auth"), env), username, password)


@pytest.fixture(scope="session")
def _mlflow_launches(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[MlflowServer, AuthServer]]:
    """Both servers start together, once: their startups overlap each other and the seeding."""
    plain = launch_mlflow_server(tmp_path_factory.mktemp("mlflow"))
    auth = launch_auth_server(tmp_path_factory.mktemp("mlflow-auth"))
    yield plain, auth
    stop_mlflow_server(auth.server, plain)


@pytest.fixture(scope="session")
def mlflow_server(_mlflow_launches: tuple[MlflowServer, AuthServer]) -> MlflowServer:
    wait_healthy(_mlflow_launches[0])
    return _mlflow_launches[0]


@pytest.fixture(scope="session")
def mlflow_auth_server(_mlflow_launches: tuple[MlflowServer, AuthServer]) -> AuthServer:
    wait_healthy(_mlflow_launches[1].server)
    return _mlflow_launches[1]


class FaultProxy:
    """A loopback proxy in front of the real server that fails on demand.

    Modes: `pass`; `reset` (close the connection unanswered); `status` (answer `status` with an MLflow
    error body); `malformed` (200 with a body that is not JSON); `endless` (every answer carries the same
    next_page_token); `delay` (hold each request `delay` seconds, then pass it on)."""

    def __init__(self, upstream: str, tls: ssl.SSLContext | None = None) -> None:
        self.upstream = upstream
        self.mode, self.status, self.delay = "pass", 500, 0.0
        self.seen_auth: list[str] = []
        self._release = threading.Event()
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                proxy._handle(self)

            def do_POST(self) -> None:
                proxy._handle(self)

            def log_message(self, format: str, *args: object) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        if tls is not None:
            self._server.socket = tls.wrap_socket(self._server.socket, server_side=True)
        scheme = "https" if tls is not None else "http"
        self.url = f"{scheme}://127.0.0.1:{self._server.server_address[1]}"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._release.set()
        self._server.shutdown()
        self._server.server_close()

    def reset(self) -> None:
        self._release.set()  # frees requests held by `delay`
        self._release = threading.Event()
        self.mode, self.status, self.delay = "pass", 500, 0.0
        self.seen_auth.clear()

    def _handle(self, handler: BaseHTTPRequestHandler) -> None:
        body = handler.rfile.read(int(handler.headers.get("Content-Length") or 0))
        self.seen_auth.append(handler.headers.get("Authorization", ""))
        mode = self.mode
        if mode == "reset":
            handler.close_connection = True
            return
        if mode == "delay":
            self._release.wait(self.delay)
        if mode == "status":
            error = {"error_code": "INTERNAL_ERROR", "message": f"injected {self.status}"}
            return self._reply(handler, self.status, json.dumps(error).encode())
        if mode == "malformed":
            return self._reply(handler, 200, b"<html>upstream gateway said hi")
        headers = {k: v for k, v in handler.headers.items() if k.lower() in ("content-type", "authorization")}
        upstream = requests.request(
            handler.command, self.upstream + handler.path, data=body, headers=headers, timeout=30
        )
        content = upstream.content
        if mode == "endless" and upstream.ok:
            data = upstream.json()
            data["next_page_token"] = LOOPING_PAGE_TOKEN
            content = json.dumps(data).encode()
        self._reply(handler, upstream.status_code, content)

    @staticmethod
    def _reply(handler: BaseHTTPRequestHandler, status: int, content: bytes) -> None:
        handler.send_response(status)
        handler.send_header("Content-Type", "application/json")
        handler.send_header("Content-Length", str(len(content)))
        handler.end_headers()
        handler.wfile.write(content)


@dataclass
class Seeded:
    """What was written, so tests assert against it rather than against literals scattered around."""

    now: float
    fraud_versions_created: dict[int, float]
    last_success_end: float
    long_model_name: str


def _seed(url: str, db: Path) -> Seeded:
    write = Writer(url)
    client = write.client
    now = time.time()
    run = write.run

    run("train-fraud", now - 3 * HOUR, now - 2 * HOUR, "FINISHED")
    run("train-fraud", now - 3 * DAY - HOUR, now - 3 * DAY, "FINISHED")
    run("train-fraud", now - 6 * HOUR, now - 5.5 * HOUR, "FAILED")
    run("train-fraud", now - 2 * DAY - 600, now - 2 * DAY, "KILLED")
    run("train-fraud", now - 10 * DAY - HOUR, now - 10 * DAY, "FINISHED")
    run("train-fraud", now - HOUR, None, "RUNNING")
    run("train-churn", now - 4 * HOUR, now - 3 * HOUR, "FAILED")

    created: dict[int, float] = {}

    def version(model: str, val_auc: float) -> int:
        run_id = run("model-builds", now - DAY, now - DAY + 60, "FINISHED")
        write.metrics(run_id, now - DAY + 30, {"val_auc": val_auc})
        number, at = write.version(model, run_id)
        if model == "fraud-detector":
            created[number] = at
        return number

    client.create_registered_model("fraud-detector")
    for auc in (0.88, 0.91, 0.93):
        version("fraud-detector", auc)
    client.set_registered_model_alias("fraud-detector", "production", "2")
    client.set_registered_model_alias("fraud-detector", "champion", "3")
    client.create_registered_model("churn")
    version("churn", 0.75)
    failed = version("churn", 0.5)
    client.set_registered_model_alias("churn", "production", "1")
    long_name = "segment-" + "x" * 150
    client.create_registered_model(long_name)
    version(long_name, 0.6)
    # A registration that failed: the public API cannot produce one, so set the status in the real store.
    with sqlite3.connect(db) as conn:
        conn.execute(
            "UPDATE model_versions SET status = 'FAILED_REGISTRATION' WHERE name = ? AND version = ?",
            ("churn", failed),
        )

    tags = {"mlobs.model_name": "fraud-detector", "mlobs.model_version": "2"}
    old = run("monitoring", now - 2 * DAY, now - 2 * DAY + 60, "FINISHED", **tags)
    write.metrics(old, now - 2 * DAY, {"psi": 0.02, "accuracy": 0.95})
    recent = run("monitoring", now - 3 * HOUR, None, "RUNNING", **tags)
    write.metrics(
        recent,
        now - 2 * HOUR,
        {"psi": 0.12, "psi.age": 0.31, "psi.income": 0.05, "share_drifted_features": 0.5},
    )
    write.metrics(recent, now - 3 * HOUR, {"accuracy": 0.90})
    write.metrics(recent, now - HOUR, {"accuracy": 0.87, "latency_ms": 12.0})
    churn_run = run(
        "monitoring", now - HOUR, None, "RUNNING", **{"mlobs.model_name": "churn", "mlobs.model_version": "1"}
    )
    write.metrics(churn_run, now - 0.5 * HOUR, {"auc": 0.7, "p_value.tenure": 0.01})
    untagged = run("monitoring", now - HOUR, None, "RUNNING")
    write.metrics(untagged, now - 0.5 * HOUR, {"psi": 9.0})
    return Seeded(now, created, ms(now - 2 * HOUR) / 1000, long_name)


@pytest.fixture(scope="session")
def mlflow_seeded(mlflow_server: MlflowServer) -> Seeded:
    return _seed(mlflow_server.url, mlflow_server.db)


@pytest.fixture(scope="session")
def _fault_proxy(mlflow_server: MlflowServer) -> Iterator[FaultProxy]:
    proxy = FaultProxy(mlflow_server.url)
    proxy.start()
    yield proxy
    proxy.stop()


@pytest.fixture
def fault_proxy(_fault_proxy: FaultProxy, mlflow_seeded: Seeded) -> Iterator[FaultProxy]:
    """The session's proxy, passing traffic through at the start and end of every test."""
    _fault_proxy.reset()
    yield _fault_proxy
    _fault_proxy.reset()


# Only the registry section: two requests per refresh keep fault and auth tests quick.
REGISTRY_ONLY: dict[str, object] = {
    "registry": {"baseline_metrics": []},
    "training": {"experiments": []},
    "monitoring": {"drift_metrics": [], "quality_metrics": []},
}
# Settings for the seeded dataset: every scrape refreshes (and waits for it), so reads are deterministic.
SEEDED_CONFIG: dict[str, object] = {
    "refresh_interval": "1ms",
    "scrape_wait": "30s",
    "registry": {"baseline_metrics": ["val_auc"]},
    "training": {"experiments": ["train-fraud", "train-churn"]},
}


@contextlib.contextmanager
def mlflow_exporter(
    tmp_path: Path,
    url: str,
    config: dict[str, object] | None = None,
    environ: dict[str, str] | None = None,
    ctx: BuildContext | None = None,
) -> Iterator[tuple[Exporter, MlflowCollector]]:
    """An in-process exporter with only the mlflow collector, pointed at `url`."""
    path = tmp_path / f"exporter-{secrets.token_hex(4)}.yaml"
    path.write_text(yaml.safe_dump({"mlflow": {**SEEDED_CONFIG, **(config or {})}}))
    argv = ["--collector.mlflow", f"--mlflow.tracking-uri={url}", f"--config.file={path}"]
    with running_exporter(argv, [MLFLOW_PLUGIN], environ or {}, ctx) as exporter:
        collector = exporter.root.collectors[0]
        assert isinstance(collector, MlflowCollector)
        try:
            yield exporter, collector
        finally:
            collector.refresh.wait_idle(30)

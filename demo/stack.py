"""The local stack: simulated upstreams, both exporters, a real MLflow, Prometheus with the generated rules,
Alertmanager and a webhook, on loopback under one folder; faults injected one at a time.

    with Stack() as stack:
        stack.inject_xid(gpu=7, xid=79)
        stack.webhook.wait_for("MLObsGpuXidCritical")

Every process runs in its own session and is stopped by its process group, in reverse order of start.
"""

from __future__ import annotations

import contextlib
import shutil
import tempfile
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bundle.schema import BundleConfig
from demo import gpu_node, prometheus, seed, services
from demo.alerting import AlertmanagerConfig, Webhook, route_everything_to
from demo.config import stack_config
from demo.gpu_node import MIXED_NODE, NODE, GpuFault, ServingPod, Throttle, Xid
from demo.mlflow_server import MlflowServer, Writer, launch_mlflow_server, restart, stop_mlflow_server
from demo.mlflow_server import wait_healthy as wait_mlflow
from demo.processes import Child, free_port, stop, wait_until
from demo.prometheus import PrometheusAPI
from exporter.attribution.fake_kubelet import FakeKubelet
from exporter.kube.fake_api import FakeKubeAPI
from exporter.tfserving.simulator import TFServingSimulator
from exporter.tfserving.simulator_state import SimModel, SimVersion, TFServingState, failed_version

SERVING = (
    ServingPod("fraud-detector-0", ("fraud-detector",), (0, 1)),
    ServingPod("ranking-0", ("ranking",), (2,)),
)
TRAINING = {"team-a/train-fraud-0": (3, 4, 5, 6)}  # GPU 7 is free
MIXED_NODE_PODS = {"team-b/batch-score-0": (0, 1)}  # the V100s; the MIG slices and the GTX are free
REGISTRY = (
    seed.RegisteredModel("fraud-detector", 2, 2, "train-fraud", {"accuracy": 0.94, "auc": 0.91}),
    seed.RegisteredModel("ranking", 3, 3, "train-ranking", {"accuracy": 0.88, "auc": 0.86}),
)
LATENCY_MS = {"fraud-detector": 20.0, "ranking": 8.0}
SPIKE_MS = 400.0  # P95 far over the 100 ms target


def sim_models(pod: ServingPod) -> list[SimModel]:
    """The versions of each model: every registered version, the production one AVAILABLE, older ones END."""
    registered = {m.name: m for m in REGISTRY}
    models = []
    for name in pod.models:
        model = registered[name]
        versions = [
            SimVersion(n, state="AVAILABLE" if n == model.production else "END")
            for n in range(1, model.versions + 1)
        ]
        # Clients send some malformed requests (not errors of the server) and a few fail on the server.
        errors = {"INVALID_ARGUMENT": 0.01, "UNAVAILABLE": 0.001}
        models.append(
            SimModel(name, versions, latency_median_us=LATENCY_MS[name] * 1000, error_ratios=errors)
        )
    return models


@dataclass
class Traffic:
    """Synthetic requests on every simulated model, `rps` per model, on one thread."""

    states: Sequence[TFServingState]
    rps: float
    _stop: threading.Event = field(default_factory=threading.Event)

    def start(self) -> None:
        threading.Thread(target=self._run, name="traffic", daemon=True).start()

    def _run(self) -> None:
        carry = 0.0
        while not self._stop.wait(0.25):
            carry += self.rps * 0.25
            count, carry = int(carry), carry % 1
            for state in self.states:
                for model in state.models:
                    state.simulate(model, count)

    def stop(self) -> None:
        self._stop.set()


class Stack:
    """Start with `start()` (or `with`); `urls` says where everything is. Faults: `inject_xid`,
    `latency_spike`, `log_drift`, `stop_mlflow`; `clear_faults` undoes the GPU and latency ones."""

    def __init__(
        self,
        folder: Path | None = None,
        bundle_override: Mapping[str, Any] | None = None,
        alertmanager: AlertmanagerConfig | None = route_everything_to,
        rps: float = 20.0,
        echo: bool = False,
        log: Callable[[str], None] = lambda line: None,
    ) -> None:
        self._own_folder = folder is None
        self.folder = folder or Path(tempfile.mkdtemp(prefix="mlobs-stack-"))
        self.cfg: BundleConfig
        self.cfg, self.bundle_file = stack_config(self.folder, bundle_override)
        self._alertmanager_config = alertmanager
        self._rps = rps
        self._log = log
        self._children: list[Child] = []
        self._stoppers: list[Callable[[], None]] = []
        self._gpu_faults: list[GpuFault] = []
        self.urls: dict[str, str] = {}
        self.started_at = 0.0
        # Chosen just before each exporter starts (a port found free can be taken meanwhile); the GPU
        # exporter keeps its port across restarts, as Prometheus' static config names it.
        self.gpu_port = 0
        self.mixed_port = 0
        self.cluster_port = 0
        self.webhook = Webhook(self.folder / "webhook.jsonl", echo=echo)
        self.prom = PrometheusAPI("")
        self.mlflow: MlflowServer | None = None
        self.sims: dict[str, TFServingSimulator] = {}
        self._gpu: Child | None = None

    # -- lifecycle

    def __enter__(self) -> Stack:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def start(self) -> Stack:
        try:
            self._start()
        except BaseException:
            self.stop()
            raise
        return self

    def _start(self) -> None:
        logs = self.folder / "logs"
        self._log(f"stack folder {self.folder}")
        # MLflow first: its start is by far the slowest, and everything else starts meanwhile.
        self.mlflow = launch_mlflow_server(self.folder / "mlflow")
        self._stoppers.append(self._stop_mlflow_quietly)
        self._start_simulators()
        self.webhook.start()
        self._stoppers.append(self.webhook.stop)
        self.urls["webhook log"] = self.webhook.url
        alertmanager = None
        if self._alertmanager_config is not None:
            child, url = services.start_alertmanager(
                self.folder, self._alertmanager_config(self.cfg, self.webhook.url)
            )
            self._children.append(child)
            self.urls["alertmanager"] = url
            alertmanager = url.removeprefix("http://")
        self._start_gpu_exporter()
        self._start_mixed_node()
        self._log("waiting for MLflow (its first start takes 30-60 s) ...")
        wait_mlflow(self.mlflow)
        self.urls["mlflow"] = self.mlflow.url
        seed.seed(Writer(self.mlflow.url), REGISTRY, seed.healthy_drift(self.cfg.drift.metrics))
        baseline = sorted({k for m in REGISTRY for k in m.baseline})
        experiments = [m.training_experiment for m in REGISTRY]
        args = services.cluster_exporter_args(self.cfg, self.mlflow.url, experiments, baseline, self.folder)
        self.cluster_port = free_port()
        self._children.append(
            services.start_exporter("cluster exporter", args, self.cluster_port, logs / "cluster.log", {})
        )
        self.urls["cluster exporter"] = f"http://127.0.0.1:{self.cluster_port}/metrics"
        rules = prometheus.write_rules(self.cfg, self.folder / "rules.yml")
        gpu_targets = {NODE: f"127.0.0.1:{self.gpu_port}", MIXED_NODE: f"127.0.0.1:{self.mixed_port}"}
        config = prometheus.config(
            self.cfg, gpu_targets, f"127.0.0.1:{self.cluster_port}", rules, alertmanager
        )
        child, url = prometheus.start(self.folder, config)
        self._children.append(child)
        self.urls["prometheus"] = url
        self.prom = PrometheusAPI(url)
        self.started_at = time.time()

    def _start_simulators(self) -> None:
        self.kubelet = FakeKubelet(gpu_node.kubelet_pods(gpu_node.BASE_SCENARIO, SERVING, TRAINING)).start()
        self._stoppers.append(self.kubelet.cleanup)
        self.mixed_scenario = services.write_yaml(self.folder / "mixed-node.yaml", gpu_node.MIXED_SCENARIO)
        self.mixed_kubelet = FakeKubelet(
            gpu_node.kubelet_pods(self.mixed_scenario, (), MIXED_NODE_PODS)
        ).start()
        self._stoppers.append(self.mixed_kubelet.cleanup)
        for pod in SERVING:
            sim = TFServingSimulator(TFServingState(sim_models(pod), batching=True)).start()
            self._stoppers.append(sim.stop)
            self.sims[pod.name] = sim
        traffic = Traffic([sim.state for sim in self.sims.values()], self._rps)
        traffic.start()
        self._stoppers.append(traffic.stop)
        api = FakeKubeAPI([gpu_node.api_pod(pod, self.sims[pod.name].port) for pod in SERVING])
        api.__enter__()
        self._stoppers.append(lambda: api.__exit__(None, None, None))
        self.kubeconfig = gpu_node.kubeconfig(self.folder / "kubeconfig", api.url)

    def _start_gpu_exporter(self) -> None:
        scenario = gpu_node.write_scenario(self.folder / "gpu-scenario.yaml", self._gpu_faults)
        args = services.gpu_exporter_args(
            self.cfg, scenario, self.kubelet.socket_path, self.kubeconfig, self.folder
        )
        self.gpu_port = self.gpu_port or free_port()
        self._gpu = services.start_exporter(
            "gpu exporter", args, self.gpu_port, self.folder / "logs" / "gpu.log", {"NODE_NAME": NODE}
        )
        self.urls["gpu exporter"] = f"http://127.0.0.1:{self.gpu_port}/metrics"

    def _start_mixed_node(self) -> None:
        args = services.gpu_exporter_args(
            self.cfg, self.mixed_scenario, self.mixed_kubelet.socket_path, self.kubeconfig, self.folder
        )
        self.mixed_port = free_port()
        log = self.folder / "logs" / "gpu-mixed.log"
        env = {"NODE_NAME": MIXED_NODE}
        self._children.append(services.start_exporter("mixed gpu exporter", args, self.mixed_port, log, env))
        self.urls["gpu exporter 2"] = f"http://127.0.0.1:{self.mixed_port}/metrics"

    def stop(self) -> None:
        """Stop everything started, newest first; safe to call twice and after a failed start."""
        if self._children or self._stoppers:
            self._log("stopping the stack (MLflow takes about 10 s) ...")
        children, self._children = self._children[::-1], []
        if self._gpu is not None:
            children.append(self._gpu)
            self._gpu = None
        stop(*children)
        stoppers, self._stoppers = self._stoppers[::-1], []
        for stopper in stoppers:
            with contextlib.suppress(Exception):
                stopper()
        if self._own_folder:
            shutil.rmtree(self.folder, ignore_errors=True)

    def _stop_mlflow_quietly(self) -> None:
        if self.mlflow is not None:
            stop_mlflow_server(self.mlflow)

    # -- faults

    def inject_xid(self, gpu: int = 7, xid: int = 79, repeat: int = 2, lost: bool | None = None) -> None:
        """XID `xid` on GPU `gpu`, `repeat` times 3 s apart starting 2 s from now; XID 79 also loses the GPU.
        The fake NVML plays a scenario from its start, so the GPU exporter restarts on the same port."""
        self._gpu_faults.append(Xid(gpu, xid, repeat=repeat, lost=xid == 79 if lost is None else lost))
        self._restart_gpu_exporter()

    def inject_throttle(self, gpu: int = 6, reason: str = "hw_thermal") -> None:
        """GPU `gpu` throttled for `reason` from now on (the GPU exporter restarts, as for an XID)."""
        self._gpu_faults.append(Throttle(gpu, reason))
        self._restart_gpu_exporter()

    def clear_faults(self) -> None:
        """Healthy GPUs (the GPU exporter restarts) and normal latency on every model."""
        for sim in self.sims.values():
            for model in sim.state.models.values():
                model.latency_median_us = LATENCY_MS[model.name] * 1000
        if self._gpu_faults:
            self._gpu_faults.clear()
            self._restart_gpu_exporter()

    def _restart_gpu_exporter(self) -> None:
        if self._gpu is not None:
            stop(self._gpu)
        self._start_gpu_exporter()

    def latency_spike(self, model: str, median_ms: float = SPIKE_MS) -> None:
        """Every later request of `model` is slow: median `median_ms`."""
        found = [sim.state.models[model] for sim in self.sims.values() if model in sim.state.models]
        if not found:
            raise KeyError(f"no simulated model {model!r}; models: {', '.join(LATENCY_MS)}")
        for sim_model in found:
            sim_model.latency_median_us = median_ms * 1000

    def log_drift(
        self, model: str, value: float | None = None, metric: str = "psi", version: int | None = None
    ) -> float:
        """A monitoring run logging `metric` = `value` (default: past critical) for a version (production)
        and each feature; returns the value."""
        if self.mlflow is None:
            raise RuntimeError("the stack is not started")
        if value is None:
            value = self.drift_past_critical(metric)
        registered = {m.name: m for m in REGISTRY}[model]
        number = registered.production if version is None else version
        seed.log_monitoring(
            Writer(self.mlflow.url), model, number, time.time(), {metric: value}, registered.baseline
        )
        return value

    def drift_past_critical(self, metric: str = "psi") -> float:
        """A value of `metric` well past the bundle's critical threshold, in the metric's bad direction."""
        limits = self.cfg.drift.metrics[metric]
        critical = float(limits["critical"])
        return critical * 2 if limits["direction"] == "higher_is_worse" else critical / 10

    def fail_model_load(self, model: str = "ranking", retry_every: float = 2.0) -> int:
        """A new version of `model` that TF Serving cannot load: it tries 6 times (its default: 5 retries),
        `retry_every` seconds apart, then gives up. Returns the version number."""
        found = [sim.state.models[model] for sim in self.sims.values() if model in sim.state.models]
        if not found:
            raise KeyError(f"no simulated model {model!r}; models: {', '.join(LATENCY_MS)}")
        (sim_model,) = found
        number = max(v.version for v in sim_model.versions) + 1
        version = failed_version(number, f"{sim_model.base_path}/{number}", attempts=1)
        sim_model.versions.append(version)

        def retry() -> None:
            version.load_attempts += 1
            if version.load_attempts < 6:
                self._retry = threading.Timer(retry_every, retry)
                self._retry.daemon = True
                self._retry.start()

        self._retry = threading.Timer(retry_every, retry)
        self._retry.daemon = True
        self._retry.start()
        return number

    def stop_mlflow(self) -> None:
        """The tracking server goes away (the registry is unreachable); `start_mlflow` brings it back."""
        if self.mlflow is not None:
            stop_mlflow_server(self.mlflow)

    def start_mlflow(self) -> None:
        if self.mlflow is not None and not self.mlflow.child.alive():
            restart(self.mlflow)

    # -- waiting

    def wait_scraped(self, timeout: float = 60) -> None:
        """Until Prometheus has scraped both exporters and evaluated the rules at least once."""
        jobs = [self.cfg.exporter.gpu_job, self.cfg.exporter.cluster_job]
        wait_until(lambda: self.prom.targets_up(jobs), timeout, f"Prometheus scraping {', '.join(jobs)}")

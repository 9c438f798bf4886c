"""Starting the stack's processes: the two exporters (as the DaemonSet and the Deployment run them) and
Alertmanager."""

from __future__ import annotations

import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import yaml

from bundle.schema import BundleConfig
from demo.processes import Child, launch, start_server, wait_http
from servicemonitors import cluster, gpu

# Flags of the generated containers that the stack replaces with its own boundaries.
REPLACED = (
    "--web.listen-address",
    "--gpu.backend",
    "--gpu.fake-scenario",
    "--attribution.pod-resources-socket",
    "--config.file",
    "--mlflow.tracking-uri",
)


def container_args(workload: dict[str, Any]) -> list[str]:
    (container,) = workload["spec"]["template"]["spec"]["containers"]
    return [a for a in container["args"] if not a.startswith(REPLACED)]


def write_yaml(path: Path, data: dict[str, Any]) -> Path:
    path.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
    return path


def start_exporter(name: str, args: Sequence[str], port: int, log: Path, env: dict[str, str]) -> Child:
    argv = [sys.executable, "-m", "exporter", f"--web.listen-address=127.0.0.1:{port}", *args]
    child = launch(name, argv, log, env)
    wait_http(child, f"http://127.0.0.1:{port}/metrics")
    return child


def gpu_exporter_args(
    cfg: BundleConfig, scenario: Path, socket_path: str, kubeconfig: Path, folder: Path
) -> list[str]:
    """The DaemonSet's args on the fake NVML, the fake kubelet, and TF Serving discovery via the fake API."""
    config = {
        "tfserving": {
            "kubernetes": {
                "enabled": True,
                "label_selector": cfg.serving.discovery_label_selector,
                "kubeconfig": str(kubeconfig),
                "refresh_interval": 5,
            }
        }
    }
    args = container_args(gpu.daemonset(cfg))
    args += ["--gpu.backend=fake", f"--gpu.fake-scenario={scenario}", "--collector.tfserving"]
    args += [f"--attribution.pod-resources-socket={socket_path}"]
    # Opt-in in the DaemonSet (20 ms of NVML sampling per GPU); on here so its panel shows data.
    args += ["--gpu.pcie-throughput-sampling"]
    return [*dict.fromkeys(args), f"--config.file={write_yaml(folder / 'gpu-exporter.yaml', config)}"]


def cluster_exporter_args(
    cfg: BundleConfig, tracking_uri: str, experiments: Sequence[str], baseline: Sequence[str], folder: Path
) -> list[str]:
    """The cluster Deployment's args against the stack's MLflow, refreshing every 2 s."""
    config = {
        "mlflow": {
            "refresh_interval": "2s",
            "registry": {"baseline_metrics": list(baseline)},
            "training": {"experiments": list(experiments)},
        }
    }
    args = [*container_args(cluster.deployment(cfg)), f"--mlflow.tracking-uri={tracking_uri}"]
    return [*args, f"--config.file={write_yaml(folder / 'cluster-exporter.yaml', config)}"]


def start_alertmanager(folder: Path, config: dict[str, Any]) -> tuple[Child, str]:
    path = write_yaml(folder / "alertmanager.yml", config)
    return start_server(
        "alertmanager",
        ["prometheus-alertmanager", "alertmanager"],  # Debian's name, upstream's
        lambda address: [
            f"--config.file={path}",
            f"--storage.path={folder / 'alertmanager-data'}",
            f"--web.listen-address={address}",
            "--cluster.listen-address=",  # no gossip: one instance
        ],
        folder / "alertmanager.log",
    )

"""The GPU attribution row, end to end: the generated DaemonSet's exporter (fake NVML, a real gRPC kubelet,
TF Serving discovery) scraped by a real Prometheus through the generated ServiceMonitor's relabelings, and
every attribution panel's query answered by that Prometheus."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import pytest

from bundle.schema import BundleConfig, load_config
from dashboards import gpu_node
from dashboards.queries import all_values, panel_queries, substitute
from exporter.attribution.fake_kubelet import FakeContainer, FakeKubelet, FakePod
from exporter.attribution.plugin import AttributionPlugin
from exporter.gpu.fake_nvml import load
from exporter.gpu.plugin import GPU_PLUGIN
from exporter.kube import fake_api as kube_api
from exporter.kube.fake_api import FakeKubeAPI
from exporter.plugin import BuildContext, Plugin
from exporter.tfserving.plugin import TFServingPlugin
from exporter.tfserving.simulator import TFServingSimulator
from exporter.tfserving.simulator_state import SimModel, SimVersion, TFServingState
from servicemonitors import gpu
from tests.fixtures_bundle import instant_query, pod_spec, relabel_config, running_prometheus, wait_for
from tests.helpers import running_exporter

pytestmark = pytest.mark.slow

NODE = "gpu-node-1"
GIB = 1024**3
H100 = [device.uuid for device in load("h100-8x").gpus]
CONTROL_JOB = "without-labeldrop"
# The labels prometheus-operator gives every target of the GPU ServiceMonitor: the exporter's own pod.
OPERATOR_TARGET_LABELS = {
    "namespace": "monitoring",
    "pod": "mlobs-exporter-x7k2p",
    "container": "exporter",
    "service": "mlobs-exporter",
    "endpoint": "metrics",
    "__meta_kubernetes_pod_node_name": NODE,
}


@dataclass
class Scraped:
    url: str
    at: float
    board: dict[str, Any]

    def query(self, expr: str) -> list[tuple[dict[str, str], float]]:
        return instant_query(self.url, expr, self.at)

    def panel(self, title: str) -> list[tuple[dict[str, str], float]]:
        """The panel's one query, the dashboard's variables set to All, as Grafana would send it."""
        (expr,) = [expr for panel, expr in panel_queries(self.board) if panel == title]
        return self.query(substitute(expr, all_values(self.board)))


def cgroup(uid: str) -> str:
    pod = f"kubepods-burstable-pod{uid.replace('-', '_')}.slice"
    return f"0::/kubepods.slice/kubepods-burstable.slice/{pod}/cri-containerd-{'a' * 64}.scope\n"


def exporter_args(cfg: BundleConfig, overrides: list[str]) -> list[str]:
    """The generated container's args (its own listen address aside), then the test's boundaries."""
    (container,) = pod_spec(gpu.daemonset(cfg))["containers"]
    return [a for a in container["args"] if not a.startswith("--web.listen-address")] + overrides


def scrape_job(monitor: dict[str, Any], job: str, target: str, drop_rules: bool = False) -> dict[str, Any]:
    endpoint = monitor["spec"]["endpoints"][0]
    relabelings = [r for r in endpoint["relabelings"] if not (drop_rules and r["action"] == "labeldrop")]
    return {
        "job_name": job,
        "metrics_path": endpoint["path"],
        "scrape_interval": "1s",
        "scrape_timeout": "1s",
        "static_configs": [{"targets": [target], "labels": OPERATOR_TARGET_LABELS}],
        "relabel_configs": [relabel_config(r) for r in relabelings],
        "metric_relabel_configs": [relabel_config(r) for r in endpoint["metricRelabelings"]],
    }


@pytest.fixture(scope="module")
def scraped(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Scraped]:
    folder = tmp_path_factory.mktemp("attribution-dashboard")
    config_file = folder / "bundle.yaml"
    config_file.write_text("attribution: {per_process: true}\n")
    cfg = load_config(config_file)
    kubelet = FakeKubelet().start()
    state = TFServingState([SimModel("bert", [SimVersion(7)])])
    try:
        with TFServingSimulator(state) as sim, FakeKubeAPI() as api:
            # Labelled as the generated DaemonSet's discovery selects (serving.discovery_label_selector).
            bert = kube_api.pod("bert-0", NODE, "127.0.0.1", namespace="ml", ports={"http": sim.port},
                                labels={"app": "tf-serving"},
                                annotations={"mlobs.io/tfserving-models": "bert"})  # fmt: skip
            api.pods = [
                bert,
                kube_api.pod("eval-0", NODE, "10.1.0.7", namespace="team-a"),
                kube_api.pod("train-1", NODE, "10.1.0.8", namespace="team-b"),
            ]
            uid = {p["metadata"]["name"]: p["metadata"]["uid"] for p in api.pods}
            # h100-8x runs a trainer (41000+k), a profiler (41100+k) and an evaluator (52000+k) on GPU k
            proc = folder / "proc"
            for pid, text in {
                41000: cgroup(uid["bert-0"]),
                52000: cgroup(uid["eval-0"]),
                41100: "0::/system.slice/gpu-profiler.service\n",
                41001: cgroup(uid["train-1"]),
                52001: cgroup(uid["train-1"]),
            }.items():
                (proc / str(pid)).mkdir(parents=True)
                (proc / str(pid) / "cgroup").write_text(text)
            kubelet.pods = [
                FakePod("ml", "bert-0", [FakeContainer("server", [("nvidia.com/gpu", [f"{H100[0]}::0"])])]),
                FakePod("team-a", "eval-0", [FakeContainer("eval", [("nvidia.com/gpu", [f"{H100[0]}::1"])])]),
                FakePod("team-b", "train-1", [FakeContainer("trainer", [("nvidia.com/gpu", ["nvidia1"])])]),
            ]
            exporter_config = folder / "exporter.yaml"
            exporter_config.write_text("tfserving: {kubernetes: {enabled: true}}\n")
            argv = exporter_args(cfg, [
                "--gpu.backend=fake", "--gpu.fake-scenario=h100-8x", f"--config.file={exporter_config}",
                "--collector.tfserving", f"--attribution.pod-resources-socket={kubelet.socket_path}",
                f"--attribution.proc-root={proc}",
            ])  # fmt: skip
            client: Callable[[], Any] = lambda: kube_api.api_client(api.url)  # noqa: E731
            plugins: list[Plugin] = [
                GPU_PLUGIN,
                TFServingPlugin(kube_api_client=client),
                AttributionPlugin(client),
            ]
            environ = {"NODE_NAME": NODE}
            ctx = BuildContext(node_name=NODE, environ=environ)
            # The control job gets an exporter of its own: NVML hands each per-process utilization sample
            # to one reader only, and a second scraper of the same exporter would take some of them.
            with (
                running_exporter(argv, plugins, environ, ctx) as exporter,
                running_exporter(argv, plugins, environ, BuildContext(NODE, environ)) as control,
            ):
                monitor = gpu.objects(cfg)["gpu-servicemonitor.yaml"]
                jobs = [
                    scrape_job(monitor, cfg.exporter.gpu_job, f"127.0.0.1:{exporter.port}"),
                    scrape_job(monitor, CONTROL_JOB, f"127.0.0.1:{control.port}", drop_rules=True),
                ]
                with running_prometheus(jobs, folder) as url:
                    yield Scraped(url, settled(url, cfg.exporter.gpu_job, CONTROL_JOB), gpu_node.build(cfg))
    finally:
        kubelet.cleanup()


def settled(url: str, job: str, control_job: str) -> float:
    """A moment at which Prometheus holds the per-pod SM samples of every pod (they need an NVML sample period
    between scrapes) and the control job's allocations, a second back so no scrape still writes before it."""
    found: list[float] = []

    def ready() -> bool:
        at = time.time() - 1
        shared = instant_query(url, f'nvidia_gpu_pod_sm_utilization_ratio{{job="{job}", pod_uid!=""}}', at)
        found[:] = [at]
        control = instant_query(url, f'nvidia_gpu_allocation_info{{job="{control_job}"}}', at)
        return {m["uuid"] for m, _ in shared} == {H100[0], H100[1]} and len(shared) == 3 and len(control) == 3

    wait_for(ready, 30, "per-pod SM samples in Prometheus")
    return found[0]


def values(result: list[tuple[dict[str, str], float]], *labels: str) -> dict[tuple[str, ...], float]:
    return {tuple(metric.get(label, "") for label in labels): value for metric, value in result}


def test_attribution_series_keep_their_pod_labels_through_the_relabelings(scraped: Scraped) -> None:
    allocations = scraped.query('nvidia_gpu_allocation_info{job="mlobs-exporter"}')
    assert {(m["namespace"], m["pod"], m["container"]) for m, _ in allocations} == {
        ("ml", "bert-0", "server"),
        ("team-a", "eval-0", "eval"),
        ("team-b", "train-1", "trainer"),
    }
    assert all(m["node"] == NODE and "exported_pod" not in m for m, _ in allocations)
    # Host processes stay outside any pod: not charged to the exporter's own pod.
    host = scraped.query('nvidia_gpu_pod_memory_used_bytes{job="mlobs-exporter", pod_uid=""}')
    assert host and all("pod" not in m and "namespace" not in m for m, _ in host)
    info = scraped.query('nvidia_gpu_info{job="mlobs-exporter"}')
    assert info and all(m["node"] == NODE and "exported_node" not in m for m, _ in info)


def test_without_the_labeldrop_the_exporters_own_pod_would_shadow_them(scraped: Scraped) -> None:
    allocations = scraped.query(f'nvidia_gpu_allocation_info{{job="{CONTROL_JOB}"}}')
    assert {m["pod"] for m, _ in allocations} == {"mlobs-exporter-x7k2p"}
    assert {m["exported_pod"] for m, _ in allocations} == {"bert-0", "eval-0", "train-1"}
    host = scraped.query(f'nvidia_gpu_pod_memory_used_bytes{{job="{CONTROL_JOB}", pod_uid=""}}')
    assert {m["pod"] for m, _ in host} == {"mlobs-exporter-x7k2p"}


def test_gpus_per_namespace_and_pod(scraped: Scraped) -> None:
    assert values(scraped.panel("GPUs per namespace"), "namespace") == {
        ("ml",): 1,
        ("team-a",): 1,
        ("team-b",): 1,
    }
    assert values(scraped.panel("GPUs per pod"), "namespace", "pod") == {
        ("ml", "bert-0"): 1,
        ("team-a", "eval-0"): 1,
        ("team-b", "train-1"): 1,
    }


def test_utilization_by_pod_shows_only_gpus_held_whole(scraped: Scraped) -> None:
    (gpu1,) = scraped.query('nvidia_gpu_utilization_ratio{job="mlobs-exporter", gpu="1"}')
    # GPU 0 is shared by bert-0 and eval-0: its GPU-wide value says nothing about either pod.
    assert values(scraped.panel("GPU utilization by pod"), "namespace", "pod", "gpu", "node") == {
        ("team-b", "train-1", "1", NODE): gpu1[1]
    }


def test_per_pod_memory_and_sm_use_on_the_shared_gpu(scraped: Scraped) -> None:
    memory = values(scraped.panel("GPU memory by pod on shared GPUs"), "pod", "uuid")
    assert memory == {("bert-0", H100[0]): 71.25 * GIB, ("eval-0", H100[0]): 2.25 * GIB}
    sm = values(scraped.panel("SM utilization by pod on shared GPUs"), "pod", "uuid")
    assert set(sm) == {("bert-0", H100[0]), ("eval-0", H100[0])}
    raw = values(scraped.query('nvidia_gpu_pod_sm_utilization_ratio{job="mlobs-exporter"}'), "pod", "uuid")
    assert all(0 <= v <= 1 and v == raw[key] for key, v in sm.items())


def test_models_on_gpus(scraped: Scraped) -> None:
    assert values(scraped.panel("Models on GPUs"), "node", "gpu", "namespace", "pod", "model") == {
        (NODE, "0", "ml", "bert-0", "bert"): 1
    }


def test_attribution_sources_are_up(scraped: Scraped) -> None:
    assert values(scraped.panel("Attribution sources"), "node", "source") == {
        (NODE, "podresources"): 1,
        (NODE, "proc"): 1,
        (NODE, "kubernetes"): 1,
    }

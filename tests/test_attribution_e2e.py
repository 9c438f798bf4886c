"""End to end: the exporter with the fake NVML scenarios, a real gRPC kubelet, a fake /proc, TF Serving
discovery through a fake Kubernetes API and a TF Serving simulator, scraped over HTTP."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from exporter.attribution.fake_kubelet import FakeContainer, FakeKubelet, FakePod
from exporter.attribution.plugin import AttributionPlugin
from exporter.gpu.fake_nvml import load
from exporter.gpu.fake_nvml.clock import ManualClock
from exporter.gpu.plugin import GPU_PLUGIN
from exporter.kube import fake_api as kube_api
from exporter.kube.fake_api import FakeKubeAPI
from exporter.plugin import BuildContext
from exporter.tfserving.plugin import TFServingPlugin
from exporter.tfserving.simulator import TFServingSimulator
from exporter.tfserving.simulator_state import SimModel, SimVersion, TFServingState
from tests.helpers import http_get, promtool_check_metrics, running_exporter, samples, scrape, value

NODE = "gpu-node-1"
GIB = 1024**3
H100 = [gpu.uuid for gpu in load("h100-8x").gpus]
A100 = load("a100-mig").gpus


def cgroup_v2(uid: str) -> str:
    pod = f"kubepods-burstable-pod{uid.replace('-', '_')}.slice"
    return f"0::/kubepods.slice/kubepods-burstable.slice/{pod}/cri-containerd-{'a' * 64}.scope\n"


def cgroup_v1(uid: str) -> str:
    return (
        "".join(
            f"{n}:{c}:/kubepods/besteffort/pod{uid}/{'b' * 64}\n" for n, c in ((3, "memory"), (2, "pids"))
        )
        + "0::/\n"
    )


def fake_proc(root: Path, cgroups: dict[int, str]) -> str:
    for pid, text in cgroups.items():
        (root / str(pid)).mkdir(parents=True)
        (root / str(pid) / "cgroup").write_text(text)
    return str(root)


@pytest.fixture
def kubelet() -> Iterator[FakeKubelet]:
    fake = FakeKubelet().start()
    yield fake
    fake.cleanup()


def test_shared_h100s_get_pods_per_pod_use_and_the_model_they_serve(
    tmp_path: Path, kubelet: FakeKubelet
) -> None:
    state = TFServingState([SimModel("bert", [SimVersion(7)])])
    with TFServingSimulator(state) as sim, FakeKubeAPI() as api:
        bert = kube_api.pod(
            "bert-0",
            NODE,
            "127.0.0.1",
            namespace="ml",
            ports={"http": sim.port},
            annotations={"mlobs.io/tfserving-models": "bert"},
        )
        evaluator = kube_api.pod("eval-0", NODE, "10.1.0.7", namespace="team-a")
        trainer = kube_api.pod("train-1", NODE, "10.1.0.8", namespace="team-b")
        api.pods = [bert, evaluator, trainer, kube_api.pod("elsewhere", "other-node", "10.2.0.1")]
        uid = {p["metadata"]["name"]: p["metadata"]["uid"] for p in api.pods}
        # h100-8x runs a trainer (41000+k), a profiler (41100+k) and an evaluator (52000+k) on GPU k
        proc = fake_proc(tmp_path / "proc", {
            41000: cgroup_v2(uid["bert-0"]),
            52000: cgroup_v1(uid["eval-0"]),
            41100: "0::/system.slice/gpu-profiler.service\n",
            41001: cgroup_v2(uid["train-1"]),
            52001: cgroup_v2(uid["train-1"]),
        })  # fmt: skip
        kubelet.pods = [
            FakePod("ml", "bert-0", [FakeContainer("server", [("nvidia.com/gpu", [f"{H100[0]}::0"])])]),
            FakePod("team-a", "eval-0", [FakeContainer("eval", [("nvidia.com/gpu", [f"{H100[0]}::1"])])]),
            FakePod("team-b", "train-1", [FakeContainer("trainer", [("nvidia.com/gpu", ["nvidia1"])])]),
        ]
        config = tmp_path / "config.yaml"
        config.write_text("tfserving: {kubernetes: {enabled: true}}\n")
        argv = [
            "--gpu.backend=fake", "--gpu.fake-scenario=h100-8x", f"--config.file={config}",
            "--collector.tfserving", "--collector.attribution", "--attribution.processes",
            f"--attribution.pod-resources-socket={kubelet.socket_path}", f"--attribution.proc-root={proc}",
        ]  # fmt: skip
        plugins = [
            GPU_PLUGIN,
            TFServingPlugin(kube_api_client=lambda: kube_api.api_client(api.url)),
            AttributionPlugin(kube_api_client=lambda: kube_api.api_client(api.url)),
        ]
        clock = ManualClock()
        ctx = BuildContext(node_name=NODE, environ={"NODE_NAME": NODE}, clock=clock)
        with running_exporter(argv, plugins, {"NODE_NAME": NODE}, ctx) as exporter:
            scrape(exporter)
            clock.advance(1.0)  # a new NVML utilization sample period
            text = scrape(exporter)
            status, _, _ = http_get(f"http://127.0.0.1:{exporter.port}/health")

    assert promtool_check_metrics(text) == ""
    assert status == 200
    for collector in ("gpu", "tfserving", "attribution"):
        assert value(text, "mlobs_collector_success", collector=collector) == 1, collector
    gpu0 = {"uuid": H100[0], "gpu": "0", "mig_uuid": ""}
    assert value(text, "nvidia_gpu_allocation_info", **gpu0, namespace="ml", pod="bert-0", container="server",
                 resource="nvidia.com/gpu") == 1  # fmt: skip
    assert value(text, "nvidia_gpu_allocation_info", **gpu0, namespace="team-a", pod="eval-0") == 1
    assert value(text, "nvidia_gpu_allocation_info", uuid=H100[1], gpu="1", pod="train-1") == 1
    assert value(text, "nvidia_gpu_model_info", **gpu0, namespace="ml", pod="bert-0", model="bert") == 1
    # one GPU, three owners, three different numbers: no duplicated GPU-wide values
    per_pod = {
        labels["pod_uid"]: v
        for (name, frozen), v in samples(text).items()
        if name == "nvidia_gpu_pod_memory_used_bytes" and (labels := dict(frozen))["uuid"] == H100[0]
    }
    assert per_pod == {uid["bert-0"]: 71.25 * GIB, uid["eval-0"]: 2.25 * GIB, "": 0.5 * GIB}
    bert_labels = {"uuid": H100[0], "namespace": "ml", "pod": "bert-0", "pod_uid": uid["bert-0"]}
    assert value(text, "nvidia_gpu_pod_sm_utilization_ratio", **bert_labels) == pytest.approx(0.88)
    assert value(text, "nvidia_gpu_pod_processes", uuid=H100[0], namespace="team-a", pod="eval-0") == 1
    assert value(
        text, "nvidia_gpu_pod_memory_used_bytes", uuid=H100[1], namespace="team-b", pod="train-1"
    ) == (73.5 * GIB)
    for source in ("podresources", "proc", "kubernetes"):
        assert value(text, "mlobs_attribution_up", source=source) == 1, source


def test_mig_slices_in_every_id_form_with_per_slice_processes(tmp_path: Path, kubelet: FakeKubelet) -> None:
    gpu0 = A100[0]
    legacy = [f"MIG-{gpu0.uuid}/{m.gpu_instance}/{m.compute_instance}" for m in gpu0.mig or ()]
    proc = fake_proc(
        tmp_path / "proc",
        {
            6100: cgroup_v2("0f3a8c5e9b1d4e2f8a7c6b5d4e3f2a1b"),
            6200: cgroup_v1("6f1d1e8a-2c1b-4f7e-9d3a-0c2b5e7a9f10"),
            7100: cgroup_v2("1b2c3d4e-5f60-4718-8293-a4b5c6d7e8f9"),
        },
    )
    argv = [
        "--gpu.backend=fake", "--gpu.fake-scenario=a100-mig", "--collector.attribution",
        f"--attribution.pod-resources-socket={kubelet.socket_path}", "--attribution.processes",
        f"--attribution.proc-root={proc}",
    ]  # fmt: skip
    with running_exporter(argv, [GPU_PLUGIN, AttributionPlugin()]) as exporter:
        first = scrape(exporter)
        # the MIG UUIDs as NVML reports them, to hand out as the device plugin would
        mig_uuids = {
            dict(labels)["gpu_instance"]: dict(labels)["mig_uuid"]
            for (name, labels), _ in samples(first).items()
            if name == "nvidia_gpu_mig_instance_info"
        }
        kubelet.pods = [
            FakePod("ml", "train-0", [FakeContainer("t", [("nvidia.com/mig-3g.40gb", [mig_uuids["1"]])])]),
            FakePod("ml", "notebook", [FakeContainer("n", [("nvidia.com/mig-2g.20gb", [legacy[1]])])]),
            FakePod("ml", "tiny", [FakeContainer("x", [("nvidia.com/mig-1g.10gb", ["0:3"])])]),
            FakePod("ml", "whole", [FakeContainer("w", [("nvidia.com/gpu", [A100[1].uuid])])]),
        ]
        text = scrape(exporter)

    assert promtool_check_metrics(text) == ""
    for pod, gi in (("train-0", "1"), ("notebook", "2"), ("tiny", "4")):
        assert value(text, "nvidia_gpu_allocation_info", uuid=gpu0.uuid, gpu="0", mig_uuid=mig_uuids[gi],
                     pod=pod) == 1, pod  # fmt: skip
    assert value(text, "nvidia_gpu_allocation_info", uuid=A100[1].uuid, mig_uuid="", pod="whole") == 1
    assert value(text, "mlobs_attribution_unresolved_devices") == 0
    on_slice = {"uuid": gpu0.uuid, "mig_uuid": mig_uuids["1"], "pod_uid": "0f3a8c5e9b1d4e2f8a7c6b5d4e3f2a1b"}
    assert value(text, "nvidia_gpu_pod_processes", **on_slice) == 1
    # NVML reports neither memory nor SM use per process under MIG: absent, never 0
    assert value(text, "nvidia_gpu_pod_memory_used_bytes", **on_slice) is None
    assert value(text, "nvidia_gpu_pod_sm_utilization_ratio", **on_slice) is None
    whole = {"uuid": A100[1].uuid, "pod_uid": "1b2c3d4e-5f60-4718-8293-a4b5c6d7e8f9"}
    assert value(text, "nvidia_gpu_pod_memory_used_bytes", **whole) == 52 * GIB
    assert value(text, "mlobs_attribution_up", source="kubernetes") is None  # no NODE_NAME: no API lookup


def test_without_the_socket_the_gpu_series_stay_and_attribution_says_why(tmp_path: Path) -> None:
    argv = ["--gpu.backend=fake", "--collector.attribution",
            f"--attribution.pod-resources-socket={tmp_path / 'kubelet.sock'}"]  # fmt: skip
    with running_exporter(argv, [GPU_PLUGIN, AttributionPlugin()]) as exporter:
        text = scrape(exporter)
        status, _, body = http_get(f"http://127.0.0.1:{exporter.port}/health")
    assert value(text, "mlobs_attribution_up", source="podresources") == 0
    assert value(text, "mlobs_collector_success", collector="attribution") == 0
    assert value(text, "mlobs_collector_success", collector="gpu") == 1
    assert value(text, "nvidia_gpu_up", gpu="0") == 1
    assert status == 200 and "kubelet.sock not found" in body
    assert promtool_check_metrics(text) == ""

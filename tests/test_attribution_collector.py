"""The attribution collector against a real gRPC kubelet and a fake /proc: series, failures, recovery."""

from __future__ import annotations

import logging
import shutil
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from exporter.attribution.collector import AttributionCollector, GpuInput
from exporter.attribution.fake_kubelet import FakeContainer, FakeKubelet, FakePod
from exporter.attribution.join import (
    DeviceProcesses,
    DeviceRef,
    GpuView,
    MigView,
    ProcessView,
    ServingPodView,
)
from exporter.attribution.pod_names import PodName
from exporter.attribution.podresources import DEFAULT_RESOURCES, PodResourcesClient, ResourceFilter
from exporter.attribution.proc_cgroups import ProcCgroups
from exporter.collector import IsolatingCollector
from tests.helpers import promtool_check_metrics, value

PROC = Path(__file__).parent / "fixtures" / "proc"
GPU0 = "GPU-5e7c1f4a-9b2d-4c3e-8f1a-0b2c3d4e5f60"
GPU1 = "GPU-6f8d2a5b-0c3e-4d4f-9a2b-1c3d4e5f6071"
MIG_A = "MIG-7a9e3b6c-1d4f-5e5a-8b3c-2d4e5f607182"
# Pod UIDs in the fixture /proc: 4101 and 4201 are one pod, 4202 another, 4205 a third; 4301 is a host daemon
UID_BERT = "6f1d1e8a-2c1b-4f7e-9d3a-0c2b5e7a9f10"
UID_NB0 = "3d4e5f60-7182-4a93-a4b5-c6d7e8f9a0b1"
UID_NB1 = "5f607182-93a4-4b5c-86d7-e8f9a0b1c2d3"

PODS = [
    FakePod("ml", "bert-0", [FakeContainer("server", [("nvidia.com/gpu", [GPU0])])]),
    FakePod("ml", "resnet-0", [FakeContainer("server", [("nvidia.com/mig-1g.10gb", [MIG_A])])]),
    FakePod("team-a", "notebook-0", [FakeContainer("jupyter", [("nvidia.com/gpu", [f"{GPU1}::0"])])]),
    FakePod("team-b", "notebook-1", [FakeContainer("jupyter", [("nvidia.com/gpu", [f"{GPU1}::1"])])]),
    FakePod("ml", "ghost", [FakeContainer("x", [("nvidia.com/gpu", ["GPU-not-on-this-node"])])]),
]
GPUS = [GpuView(0, GPU0), GpuView(1, GPU1, (MigView(MIG_A, 0),))]
PROCESSES = [
    DeviceProcesses(
        DeviceRef(GPU0, "0"), (ProcessView(4101, 6_000_000_000, 0.5), ProcessView(4201, 2_000_000_000, 0.25))
    ),
    DeviceProcesses(
        DeviceRef(GPU1, "1"),
        (
            ProcessView(4202, 1_000_000_000, 0.25),
            ProcessView(4205, 3_000_000_000, 0.5),
            ProcessView(4301, 100_000_000, None),
        ),
    ),
]
SERVING = [ServingPodView("ml", "bert-0", UID_BERT, ("bert",))]


@dataclass
class Names:
    """UID lookups as NodePodNames answers them (its caching is tested in test_attribution_sources)."""

    known: dict[str, PodName] = field(default_factory=dict)
    error: str = ""
    asked: list[list[str]] = field(default_factory=list)

    def names(self, uids: Sequence[str]) -> dict[str, PodName]:
        self.asked.append(list(uids))
        return {uid: self.known[uid] for uid in uids if uid in self.known}

    def close(self) -> None:
        pass


@dataclass
class Setup:
    kubelet: FakeKubelet
    collector: AttributionCollector
    names: Names
    gpu: list[GpuInput | None]

    def scrape(self) -> str:
        root = IsolatingCollector(
            [self.collector], {"version": "t", "python_version": "3", "node": "n", "gpu_backend": "fake"}
        )
        return root.render().decode()


def make_setup(proc_root: str, processes: bool = True) -> Setup:
    kubelet = FakeKubelet(PODS).start()
    names = Names({UID_NB0: PodName("team-a", "notebook-0")})
    gpu: list[GpuInput | None] = [GpuInput(GPUS, PROCESSES)]
    collector = AttributionCollector(
        PodResourcesClient(kubelet.socket_path, 2.0, ResourceFilter(DEFAULT_RESOURCES)),
        gpu_input=lambda: gpu[0],
        serving_pods=lambda: SERVING,
        proc=ProcCgroups(proc_root) if processes else None,
        names=names if processes else None,
        log=logging.getLogger("test.attribution"),
    )
    return Setup(kubelet, collector, names, gpu)


@pytest.fixture
def setup() -> Iterator[Setup]:
    made = make_setup(str(PROC))
    yield made
    made.collector.close()
    made.kubelet.cleanup()


def test_allocations_join_gpu_series_on_uuid_with_mig_slices_and_shared_gpus(setup: Setup) -> None:
    text = setup.scrape()
    assert (
        value(
            text,
            "nvidia_gpu_allocation_info",
            uuid=GPU0,
            gpu="0",
            mig_uuid="",
            namespace="ml",
            pod="bert-0",
            container="server",
            resource="nvidia.com/gpu",
        )
        == 1
    )
    assert (
        value(
            text,
            "nvidia_gpu_allocation_info",
            uuid=GPU1,
            gpu="1",
            mig_uuid=MIG_A,
            pod="resnet-0",
            resource="nvidia.com/mig-1g.10gb",
        )
        == 1
    )
    shared = {
        pod
        for pod in ("notebook-0", "notebook-1")
        if value(text, "nvidia_gpu_allocation_info", uuid=GPU1, mig_uuid="", pod=pod) == 1
    }
    assert shared == {"notebook-0", "notebook-1"}
    assert value(text, "mlobs_attribution_unresolved_devices") == 1
    assert (
        value(text, "nvidia_gpu_model_info", uuid=GPU0, gpu="0", namespace="ml", pod="bert-0", model="bert")
        == 1
    )
    assert value(text, "mlobs_collector_success", collector="attribution") == 1
    assert promtool_check_metrics(text) == ""


def test_shared_gpu_gets_real_per_pod_values_named_by_serving_pods_then_the_api(setup: Setup) -> None:
    text = setup.scrape()
    bert = {"uuid": GPU0, "namespace": "ml", "pod": "bert-0", "pod_uid": UID_BERT}
    assert value(text, "nvidia_gpu_pod_memory_used_bytes", **bert) == 8_000_000_000
    assert value(text, "nvidia_gpu_pod_sm_utilization_ratio", **bert) == 0.75
    assert value(text, "nvidia_gpu_pod_processes", **bert) == 2
    nb0 = {"uuid": GPU1, "namespace": "team-a", "pod": "notebook-0", "pod_uid": UID_NB0}
    assert value(text, "nvidia_gpu_pod_memory_used_bytes", **nb0) == 1_000_000_000
    assert value(text, "nvidia_gpu_pod_sm_utilization_ratio", **nb0) == 0.25
    # no name anywhere: the UID alone still separates the pod
    unnamed = {"uuid": GPU1, "namespace": "", "pod": "", "pod_uid": UID_NB1}
    assert value(text, "nvidia_gpu_pod_memory_used_bytes", **unnamed) == 3_000_000_000
    host = {"uuid": GPU1, "pod_uid": ""}
    assert value(text, "nvidia_gpu_pod_memory_used_bytes", **host) == 100_000_000
    assert value(text, "nvidia_gpu_pod_sm_utilization_ratio", **host) is None
    assert setup.names.asked == [[UID_NB0, UID_NB1]]  # bert's name came from the serving pods
    assert value(text, "mlobs_attribution_up", source="proc") == 1
    assert value(text, "mlobs_attribution_up", source="kubernetes") == 1
    assert promtool_check_metrics(text) == ""


def test_missing_socket_turns_attribution_off_visibly_logs_once_and_recovers(
    setup: Setup, caplog: pytest.LogCaptureFixture
) -> None:
    setup.kubelet.stop()
    with caplog.at_level(logging.INFO, logger="test.attribution"):
        for _ in range(3):
            text = setup.scrape()
            assert value(text, "mlobs_attribution_up", source="podresources") == 0
            assert value(text, "mlobs_collector_success", collector="attribution") == 0
            assert value(text, "nvidia_gpu_allocation_info", pod="bert-0") is None
        setup.kubelet.start()
        text = setup.scrape()
    assert value(text, "mlobs_attribution_up", source="podresources") == 1
    assert value(text, "nvidia_gpu_allocation_info", pod="bert-0") == 1
    lines = [r.getMessage() for r in caplog.records if "source" in r.getMessage()]
    assert lines == [
        "attribution source podresources unavailable: pod-resources socket "
        f"{setup.kubelet.socket_path} not found: mount the kubelet's /var/lib/kubelet/pod-resources "
        "read-only into the exporter",
        "attribution source podresources recovered",
    ]
    assert setup.collector.health().ok  # an upstream problem, shown as data, never a failing /health


def test_without_host_pids_per_process_attribution_says_it_needs_host_pid(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    made = make_setup(str(tmp_path))  # an empty /proc: the container's own PID namespace
    try:
        with caplog.at_level(logging.WARNING, logger="test.attribution"):
            text = made.scrape()
        assert value(text, "mlobs_attribution_up", source="proc") == 0
        assert value(text, "mlobs_attribution_up", source="podresources") == 1
        assert value(text, "nvidia_gpu_pod_processes", pod="bert-0") is None
        assert value(text, "nvidia_gpu_allocation_info", pod="bert-0") == 1
        assert "needs the host's PIDs (hostPID: true)" in caplog.text
        assert "proc: none of the 5 GPU processes" in made.collector.health().detail
    finally:
        made.collector.close()
        made.kubelet.cleanup()


def test_proc_root_disappearing_and_returning(tmp_path: Path) -> None:
    proc = tmp_path / "proc"
    shutil.copytree(PROC, proc)
    made = make_setup(str(proc))
    try:
        assert value(made.scrape(), "mlobs_attribution_up", source="proc") == 1
        shutil.rmtree(proc)
        text = made.scrape()
        assert value(text, "mlobs_attribution_up", source="proc") == 0
        assert value(text, "nvidia_gpu_pod_memory_used_bytes", pod="bert-0") is None
        shutil.copytree(PROC, proc)
        assert value(made.scrape(), "nvidia_gpu_pod_memory_used_bytes", pod="bert-0") == 8_000_000_000
    finally:
        made.collector.close()
        made.kubelet.cleanup()


def test_failing_name_lookup_keeps_uid_labels_and_reports_kubernetes_down(setup: Setup) -> None:
    setup.names.known.clear()
    setup.names.error = "listing pods: HTTP 403 Forbidden"
    text = setup.scrape()
    assert value(text, "mlobs_attribution_up", source="kubernetes") == 0
    assert value(text, "nvidia_gpu_pod_processes", pod_uid=UID_NB0, pod="") == 1
    assert value(text, "nvidia_gpu_pod_processes", pod="bert-0") == 2  # serving pods need no API


def test_per_process_attribution_off_emits_no_pod_series_and_no_proc_source() -> None:
    made = make_setup(str(PROC), processes=False)
    try:
        text = made.scrape()
        assert value(text, "nvidia_gpu_pod_processes", pod="bert-0") is None
        assert value(text, "mlobs_attribution_up", source="proc") is None
        assert value(text, "nvidia_gpu_allocation_info", pod="bert-0") == 1
    finally:
        made.collector.close()
        made.kubelet.cleanup()


def test_without_a_gpu_snapshot_allocations_go_unresolved_and_the_scrape_is_partial(
    setup: Setup, caplog: pytest.LogCaptureFixture
) -> None:
    setup.gpu[0] = None
    with caplog.at_level(logging.WARNING, logger="test.attribution"):
        text = setup.scrape()
    assert caplog.records == []  # the GPU collector reports its own failure
    assert value(text, "mlobs_attribution_unresolved_devices") == 5
    assert value(text, "nvidia_gpu_allocation_info", pod="bert-0") is None
    assert value(text, "mlobs_collector_success", collector="attribution") == 0
    assert value(text, "mlobs_attribution_up", source="podresources") == 1


def test_unresolved_device_ids_are_logged_once(setup: Setup, caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, logger="test.attribution"):
        setup.scrape()
        setup.scrape()
    assert [r.getMessage() for r in caplog.records] == [
        "attribution: 1 nvidia.com/gpu device id(s) match no GPU that NVML reports: "
        "ml/ghost: GPU-not-on-this-node"
    ]

"""Attribution's sources: the pod-resources client against a real gRPC server, /proc cgroups, pod names."""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from exporter.attribution.fake_kubelet import FakeContainer, FakeKubelet, FakePod
from exporter.attribution.pod_names import NodePodNames, PodName
from exporter.attribution.podresources import (
    DEFAULT_RESOURCES,
    DeviceAllocation,
    PodResourcesClient,
    PodResourcesError,
    ResourceFilter,
)
from exporter.attribution.proc_cgroups import ProcCgroups, ProcUnavailable, pod_uid_from_cgroup

FIXTURES = Path(__file__).parent / "fixtures"
PROC = FIXTURES / "proc"
GPU0 = "GPU-5e7c1f4a-9b2d-4c3e-8f1a-0b2c3d4e5f60"
GPU1 = "GPU-6f8d2a5b-0c3e-4d4f-9a2b-1c3d4e5f6071"
MIG0 = "MIG-7a9e3b6c-1d4f-5e5a-8b3c-2d4e5f607182"

NODE_PODS = [
    FakePod("ml", "bert-0", [FakeContainer("server", [("nvidia.com/gpu", [GPU0])])]),
    FakePod("ml", "resnet-0", [FakeContainer("server", [("nvidia.com/mig-1g.10gb", [MIG0])])]),
    # time-slicing: the device plugin advertises replicas <uuid>::<n>, several pods share one GPU
    FakePod("team-a", "notebook-0", [FakeContainer("jupyter", [("nvidia.com/gpu", [f"{GPU1}::0"])])]),
    FakePod("team-b", "notebook-1", [FakeContainer("jupyter", [("nvidia.com/gpu", [f"{GPU1}::3"])])]),
    FakePod(
        "infra",
        "fpga-job",
        [FakeContainer("main", [("example.com/fpga", ["fpga0"])]), FakeContainer("sidecar", [])],
    ),
    FakePod("kube-system", "coredns-0", [FakeContainer("coredns")]),
]


@pytest.fixture
def kubelet() -> Iterator[FakeKubelet]:
    fake = FakeKubelet(NODE_PODS).start()
    yield fake
    fake.cleanup()


def client_for(kubelet: FakeKubelet, timeout: float = 2.0) -> PodResourcesClient:
    return PodResourcesClient(kubelet.socket_path, timeout, ResourceFilter(DEFAULT_RESOURCES))


def test_lists_whole_gpu_mig_and_shared_allocations_of_gpu_resources_only(kubelet: FakeKubelet) -> None:
    client = client_for(kubelet)
    try:
        rows = client.list()
    finally:
        client.close()
    assert rows == [
        DeviceAllocation("ml", "bert-0", "server", "nvidia.com/gpu", GPU0),
        DeviceAllocation("ml", "resnet-0", "server", "nvidia.com/mig-1g.10gb", MIG0),
        DeviceAllocation("team-a", "notebook-0", "jupyter", "nvidia.com/gpu", f"{GPU1}::0"),
        DeviceAllocation("team-b", "notebook-1", "jupyter", "nvidia.com/gpu", f"{GPU1}::3"),
    ]


def test_resource_names_are_configurable(kubelet: FakeKubelet) -> None:
    client = PodResourcesClient(kubelet.socket_path, 2.0, ResourceFilter(["example.com/*"]))
    try:
        assert [row.device_id for row in client.list()] == ["fpga0"]
    finally:
        client.close()


def test_missing_socket_says_what_to_mount(tmp_path: Path) -> None:
    client = PodResourcesClient(str(tmp_path / "kubelet.sock"), 1.0, ResourceFilter(DEFAULT_RESOURCES))
    with pytest.raises(
        PodResourcesError, match=r"not found: mount the kubelet's /var/lib/kubelet/pod-resources"
    ):
        client.list()


def test_a_path_that_is_not_a_socket_is_named(tmp_path: Path) -> None:
    (tmp_path / "kubelet.sock").write_text("")
    client = PodResourcesClient(str(tmp_path / "kubelet.sock"), 1.0, ResourceFilter(DEFAULT_RESOURCES))
    with pytest.raises(PodResourcesError, match="is not a unix socket"):
        client.list()


def test_a_hung_kubelet_is_cut_off_by_the_timeout(kubelet: FakeKubelet) -> None:
    release = kubelet.hang()  # held for 30 s unless released: an answer in time would be a success
    client = client_for(kubelet, timeout=0.3)
    try:
        with pytest.raises(PodResourcesError, match=r"timed out after 0.3s"):
            client.list()
        assert not release.is_set() and kubelet.calls == 1  # the kubelet never answered
    finally:
        release.set()
        client.close()


def test_a_dead_socket_fails_with_one_line_and_a_restarted_kubelet_recovers(kubelet: FakeKubelet) -> None:
    client = client_for(kubelet)
    try:
        assert len(client.list()) == 4
        kubelet.stop()
        # the kubelet died but left its socket file behind
        import socket

        stale = socket.socket(socket.AF_UNIX)
        stale.bind(kubelet.socket_path)
        stale.close()
        with pytest.raises(PodResourcesError) as caught:
            client.list()
        assert "\n" not in str(caught.value) and "UNAVAILABLE" in str(caught.value)
        os.unlink(kubelet.socket_path)
        kubelet.start()
        assert len(client.list()) == 4
    finally:
        client.close()


def test_checked_in_stubs_match_the_proto() -> None:
    from google.protobuf import descriptor_pb2
    from grpc_tools import protoc

    from exporter.attribution.podresources_pb import api_pb2

    root = Path(__file__).resolve().parent.parent
    out = root / ".pytest_cache" / "podresources.pb"
    out.parent.mkdir(exist_ok=True)
    proto = "exporter/attribution/podresources_pb/api.proto"
    assert protoc.main(["protoc", f"-I{root}", f"--descriptor_set_out={out}", str(root / proto)]) == 0
    compiled = descriptor_pb2.FileDescriptorSet.FromString(out.read_bytes()).file[0]
    for message in compiled.message_type:
        for field in message.field:
            field.ClearField("json_name")  # protoc adds it to descriptor sets, not to generated modules
    checked_in = descriptor_pb2.FileDescriptorProto()
    api_pb2.DESCRIPTOR.CopyToProto(checked_in)
    assert checked_in == compiled, "regenerate the stubs: see the command in api.proto"
    assert api_pb2.DESCRIPTOR.services_by_name["PodResourcesLister"].full_name == "v1.PodResourcesLister"


@pytest.mark.parametrize(
    ("pid", "uid"),
    [
        (4101, "6f1d1e8a-2c1b-4f7e-9d3a-0c2b5e7a9f10"),  # v1 cgroupfs, burstable
        (4102, "1b2c3d4e-5f60-4718-8293-a4b5c6d7e8f9"),  # v1 cgroupfs, guaranteed
        (4103, "2c3d4e5f-6071-4829-93a4-b5c6d7e8f9a0"),  # v1 systemd, docker
        (4201, "6f1d1e8a-2c1b-4f7e-9d3a-0c2b5e7a9f10"),  # v2 systemd, containerd
        (4202, "3d4e5f60-7182-4a93-a4b5-c6d7e8f9a0b1"),  # v2 systemd, CRI-O, guaranteed
        (4203, "0f3a8c5e9b1d4e2f8a7c6b5d4e3f2a1b"),  # v2 static pod
        (4204, "4e5f6071-8293-4a4b-b5c6-d7e8f9a0b1c2"),  # v2 inside a cgroup namespace
        (4205, "5f607182-93a4-4b5c-86d7-e8f9a0b1c2d3"),  # v2 cgroupfs
        (4301, None),  # host daemon
        (4302, None),  # docker outside Kubernetes
        (4303, None),  # podman's "pod", not a Kubernetes pod
    ],
)
def test_pod_uid_from_cgroup_v1_and_v2_layouts(pid: int, uid: str | None) -> None:
    assert pod_uid_from_cgroup((PROC / str(pid) / "cgroup").read_text()) == uid


def test_proc_lookup_skips_vanished_pids_and_keeps_host_processes() -> None:
    found = ProcCgroups(str(PROC)).pod_uids([4101, 4301, 999999])
    assert found == {4101: "6f1d1e8a-2c1b-4f7e-9d3a-0c2b5e7a9f10", 4301: None}


def test_missing_proc_root_is_unavailable(tmp_path: Path) -> None:
    with pytest.raises(ProcUnavailable, match=r"proc root .*/nope not found"):
        ProcCgroups(str(tmp_path / "nope")).pod_uids([1])


def test_this_machines_own_proc_parses() -> None:
    assert ProcCgroups("/proc").pod_uids([os.getpid()]).keys() == {os.getpid()}


@dataclass
class _Pod:
    namespace: str
    name: str
    uid: str


class _Lister:
    """Stands in for kube_pods.PodLister (tested against a fake API server by its owner)."""

    def __init__(self) -> None:
        self.pods = [_Pod("ml", "bert-0", "u-1")]
        self.calls = 0
        self.fail = ""

    def list_pods(self) -> list[_Pod]:
        self.calls += 1
        if self.fail:
            raise RuntimeError(self.fail)
        return list(self.pods)

    def close(self) -> None:
        pass


def test_pod_names_list_only_for_unknown_uids_and_at_most_once_per_interval() -> None:
    now = [100.0]
    lister = _Lister()
    names = NodePodNames(lister, min_interval=30, clock=lambda: now[0])
    assert names.names(["u-1"]) == {"u-1": PodName("ml", "bert-0")}
    assert names.names(["u-1"]) == {"u-1": PodName("ml", "bert-0")}
    assert lister.calls == 1
    lister.pods.append(_Pod("ml", "bert-1", "u-2"))
    assert names.names(["u-2"]) == {}  # too soon to list again
    now[0] += 30
    assert names.names(["u-2"]) == {"u-2": PodName("ml", "bert-1")}
    assert lister.calls == 2


def test_a_failed_pod_list_keeps_the_cache_and_reports_until_a_list_succeeds() -> None:
    now = [0.0]
    lister = _Lister()
    names = NodePodNames(lister, min_interval=10, clock=lambda: now[0])
    names.names(["u-1"])
    lister.fail = "listing pods: HTTP 403 Forbidden"
    now[0] += 10
    assert names.names(["u-1", "u-9"]) == {"u-1": PodName("ml", "bert-0")}
    assert names.error == "listing pods: HTTP 403 Forbidden"
    lister.fail = ""
    names.names([])
    assert names.error.endswith("403 Forbidden")  # not yet due
    now[0] += 10
    names.names([])  # nothing missing, but the failure is retried so that it does not outlive the outage
    assert names.error == ""
    assert lister.calls == 3

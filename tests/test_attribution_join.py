"""The joins over plain data: device ids to GPUs, processes to pods, serving pods to models."""

from __future__ import annotations

import pytest

from exporter.attribution.inputs import gpu_input
from exporter.attribution.join import (
    DeviceIndex,
    DeviceProcesses,
    DeviceRef,
    GpuView,
    MigView,
    ProcessView,
    ServingPodView,
    join_allocations,
    join_models,
    pod_names,
    pod_usage,
)
from exporter.attribution.pod_names import PodName
from exporter.attribution.podresources import DeviceAllocation
from exporter.gpu.nvml_types import (
    DeviceIdentity,
    DeviceReading,
    MigInstance,
    NvmlSnapshot,
    ProcessInfo,
    ProcessUtilization,
)

GPU0 = "GPU-5e7c1f4a-9b2d-4c3e-8f1a-0b2c3d4e5f60"
GPU1 = "GPU-6f8d2a5b-0c3e-4d4f-9a2b-1c3d4e5f6071"
MIG_A = "MIG-7a9e3b6c-1d4f-5e5a-8b3c-2d4e5f607182"
MIG_B = "MIG-8b0f4c7d-2e5a-5f6b-9c4d-3e5f60718293"
GPUS = [
    GpuView(0, GPU0),
    GpuView(1, GPU1, (MigView(MIG_A, 0, 1, 0), MigView(MIG_B, 1, 2, 0))),
]
WHOLE0 = DeviceRef(GPU0, "0")
SLICE_A = DeviceRef(GPU1, "1", MIG_A)
SLICE_B = DeviceRef(GPU1, "1", MIG_B)


@pytest.mark.parametrize(
    ("device_id", "expected"),
    [
        (GPU0, WHOLE0),
        (f"{GPU0}::2", WHOLE0),  # a time-slicing replica
        ("nvidia0", WHOLE0),  # GKE
        ("0", WHOLE0),  # NVIDIA plugin, index id strategy
        (MIG_B, SLICE_B),
        (f"MIG-{GPU1}/1/0", SLICE_A),  # MIG id of drivers before R470
        ("1:1", SLICE_B),  # index id strategy, MIG slice 1 of GPU 1
        ("GPU-00000000-0000-0000-0000-000000000000", None),  # not on this node
        ("nvidia7", None),
        ("fpga0", None),
    ],
)
def test_device_ids_of_every_form_resolve_to_the_gpu(device_id: str, expected: DeviceRef | None) -> None:
    assert DeviceIndex(GPUS).resolve(device_id) == expected


def _row(namespace: str, pod: str, device_id: str, container: str = "main") -> DeviceAllocation:
    return DeviceAllocation(namespace, pod, container, "nvidia.com/gpu", device_id)


def test_replicas_of_one_gpu_in_one_container_make_one_allocation_and_unknown_ids_are_kept_aside() -> None:
    rows = [
        _row("ml", "a", f"{GPU0}::0"),
        _row("ml", "a", f"{GPU0}::1"),
        _row("ml", "b", f"{GPU0}::2"),
        _row("ml", "c", "GPU-deadbeef"),
    ]
    allocated, unresolved = join_allocations(rows, DeviceIndex(GPUS))
    assert [(a.pod, a.device) for a in allocated] == [("a", WHOLE0), ("b", WHOLE0)]
    assert unresolved == [rows[3]]


def test_models_follow_their_pods_onto_gpus() -> None:
    allocated, _ = join_allocations(
        [_row("ml", "bert-0", GPU0), _row("ml", "bert-0", MIG_A, "sidecar"), _row("ml", "other", GPU0)],
        DeviceIndex(GPUS),
    )
    serving = [
        ServingPodView("ml", "bert-0", "uid-1", ("bert", "bert-large")),
        ServingPodView("ml", "idle", "", ()),
    ]
    placed = {(p.device, p.pod, p.model) for p in join_models(allocated, serving)}
    assert placed == {
        (WHOLE0, "bert-0", "bert"),
        (WHOLE0, "bert-0", "bert-large"),
        (SLICE_A, "bert-0", "bert"),
        (SLICE_A, "bert-0", "bert-large"),
    }


def test_processes_sum_per_pod_and_device_with_host_processes_apart_and_exited_ones_dropped() -> None:
    groups = [
        DeviceProcesses(
            WHOLE0,
            (
                ProcessView(10, 1_000, 0.25),
                ProcessView(11, 2_000, 0.5),
                ProcessView(20, 4_000, 0.125),
                ProcessView(30, 500, None),
                ProcessView(99, 9_999, 0.9),
            ),
        ),
        DeviceProcesses(SLICE_A, (ProcessView(12, None, None),)),
    ]
    usage = pod_usage(groups, {10: "pod-a", 11: "pod-a", 12: "pod-a", 20: "pod-b", 30: None})
    summary = {(u.device, u.pod_uid): (u.processes, u.memory_bytes, u.sm_ratio) for u in usage}
    assert summary == {
        (WHOLE0, "pod-a"): (2, 3_000, 0.75),
        (WHOLE0, "pod-b"): (1, 4_000, 0.125),
        (WHOLE0, ""): (1, 500, None),
        (SLICE_A, "pod-a"): (1, None, None),
    }


def test_overlapping_samples_never_make_a_pod_busier_than_the_gpu() -> None:
    usage = pod_usage(
        [DeviceProcesses(WHOLE0, (ProcessView(1, None, 0.7), ProcessView(2, None, 0.6)))], {1: "p", 2: "p"}
    )
    assert usage[0].sm_ratio == 1.0


def test_serving_pods_name_uids_before_the_api_lookup() -> None:
    names = pod_names(
        [ServingPodView("ml", "bert-0", "uid-1", ())],
        {"uid-1": PodName("x", "y"), "uid-2": PodName("a", "b")},
    )
    assert names == {"uid-1": PodName("ml", "bert-0"), "uid-2": PodName("a", "b")}


def _device(index: int, uuid: str, **fields: object) -> DeviceReading:
    return DeviceReading(identity=DeviceIdentity(index, uuid), **fields)  # type: ignore[arg-type]


def test_gpu_snapshot_becomes_views_with_per_mig_processes_and_mean_sm_per_process() -> None:
    snapshot = NvmlSnapshot(
        nvml_up=True,
        complete=True,
        devices=(
            _device(
                0,
                GPU0,
                processes=(ProcessInfo(10, 1_000), ProcessInfo(11, 2_000)),
                process_utilization=(
                    ProcessUtilization(10, 0.2, 0.0, 1),
                    ProcessUtilization(10, 0.4, 0.0, 2),
                ),
            ),
            _device(
                1,
                GPU1,
                mig_enabled=True,
                mig_instances=(
                    MigInstance(MIG_A, 1, 0, "1g.10gb", processes=(ProcessInfo(12, None, 1, 0),), slot=0),
                    MigInstance(MIG_B, 2, 0, "1g.10gb", processes=(), slot=1),
                ),
            ),
        ),
    )
    got = gpu_input(snapshot)
    assert got is not None
    assert got.gpus == GPUS
    assert got.processes == [
        DeviceProcesses(WHOLE0, (ProcessView(10, 1_000, pytest.approx(0.3)), ProcessView(11, 2_000, 0.0))),
        DeviceProcesses(SLICE_A, (ProcessView(12, None, None),)),
        DeviceProcesses(SLICE_B, ()),
    ]


def test_no_new_utilization_sample_leaves_sm_unknown_rather_than_zero() -> None:
    device = _device(0, GPU0, processes=(ProcessInfo(10, 1_000),), process_utilization=())
    got = gpu_input(NvmlSnapshot(nvml_up=True, complete=True, devices=(device,)))
    assert got is not None and got.processes == [DeviceProcesses(WHOLE0, (ProcessView(10, 1_000, None),))]


def test_snapshot_without_processes_read_gives_none_and_no_snapshot_gives_nothing() -> None:
    snapshot = NvmlSnapshot(nvml_up=True, complete=True, devices=(_device(0, GPU0),))
    got = gpu_input(snapshot)
    assert got is not None and got.processes is None
    assert gpu_input(None) is None
    assert gpu_input(NvmlSnapshot(nvml_up=False, complete=False)) is None

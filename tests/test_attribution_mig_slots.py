"""The device plugin's `N:M` ids name MIG devices by their NVML slot, which need not be their position."""

from __future__ import annotations

from exporter.attribution.inputs import gpu_input
from exporter.attribution.join import DeviceIndex, DeviceProcesses, DeviceRef, ProcessView
from tests.gpu_support import fixture, rig


def test_index_ids_resolve_to_the_mig_device_in_that_nvml_slot() -> None:
    with rig(fixture("mig-slots")) as r:  # MIG devices in slots 1 and 4 only
        r.collector.enable_processes()
        r.scrape()
        snapshot = r.collector.last_snapshot()
    assert snapshot is not None
    gpu = snapshot.devices[0]
    migs = gpu.mig_instances
    assert [(m.slot, m.gpu_instance, m.profile) for m in migs] == [(1, 2, "3g.40gb"), (4, 5, "1g.10gb")]
    views = gpu_input(snapshot)
    assert views is not None
    index = DeviceIndex(views.gpus)
    big, small = (DeviceRef(gpu.identity.uuid, "0", m.mig_uuid) for m in migs)
    assert index.resolve("0:1") == big
    assert index.resolve("0:4") == small
    assert index.resolve("0:0") is None  # an empty slot, not "the first MIG device"
    assert index.resolve("0:2") is None
    assert views.processes == [
        DeviceProcesses(big, (ProcessView(8100, None),)),
        DeviceProcesses(small, (ProcessView(8400, None),)),
    ]

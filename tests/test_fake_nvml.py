"""The fake NVML behaves like pynvml: same signatures, shapes, constants and exception classes."""

from __future__ import annotations

import ctypes
import inspect
import threading
from pathlib import Path

import pynvml
import pytest

from exporter.gpu.fake_nvml import FakeNvml, ManualClock, ScenarioError, load, shipped
from exporter.gpu.fake_nvml.devices import EPOCH_US
from tests.gpu_support import fixture


def started(scenario: str) -> tuple[FakeNvml, ManualClock]:
    clock = ManualClock()
    fake = FakeNvml(load(scenario), clock=clock)
    fake.nvmlInit()
    return fake, clock


def test_every_fake_function_has_pynvmls_signature() -> None:
    fake_functions = [
        name for name in dir(FakeNvml) if name.startswith("nvml") and callable(getattr(FakeNvml, name))
    ]
    assert len(fake_functions) >= 35
    for name in fake_functions:
        real = inspect.signature(getattr(pynvml, name))
        ours = inspect.signature(getattr(FakeNvml, name))
        assert list(ours.parameters)[1:] == list(real.parameters), name


def test_constants_and_exceptions_are_pynvmls_own() -> None:
    fake, _ = started("h100-8x")
    assert fake.NVMLError is pynvml.NVMLError
    assert fake.NVML_CLOCK_SM == pynvml.NVML_CLOCK_SM
    assert "NVML_ERROR_GPU_IS_LOST" in dir(fake)
    with pytest.raises(AttributeError, match="does not implement"):
        _ = fake.nvmlDeviceGetBoardId  # a real function the fake lacks never reaches the real library


def test_calls_before_init_raise_uninitialized() -> None:
    fake = FakeNvml(load("h100-8x"), clock=ManualClock())
    with pytest.raises(pynvml.NVMLError_Uninitialized):
        fake.nvmlDeviceGetCount()
    fake.nvmlInit()
    fake.nvmlShutdown()
    with pytest.raises(pynvml.NVMLError_Uninitialized):
        fake.nvmlShutdown()


def test_returns_pynvml_shapes() -> None:
    fake, _ = started("h100-8x")
    handle = fake.nvmlDeviceGetHandleByIndex(0)
    assert isinstance(fake.nvmlDeviceGetUUID(handle), str)
    assert fake.nvmlDeviceGetPciInfo(handle).busId == "00000000:18:00.0"
    memory = fake.nvmlDeviceGetMemoryInfo(handle, version=pynvml.nvmlMemory_v2)
    assert isinstance(memory, pynvml.c_nvmlMemory_v2_t)
    assert memory.total == memory.used + memory.free + memory.reserved == 81559 * 1024**2
    assert isinstance(fake.nvmlDeviceGetMemoryInfo(handle), pynvml.c_nvmlMemory_t)
    util = fake.nvmlDeviceGetUtilizationRates(handle)
    assert isinstance(util, pynvml.c_nvmlUtilization_t) and 78 <= util.gpu <= 99
    value_type, samples = fake.nvmlDeviceGetSamples(handle, pynvml.NVML_GPU_UTILIZATION_SAMPLES, 0)
    assert value_type == pynvml.NVML_VALUE_TYPE_UNSIGNED_INT
    assert isinstance(samples[0], pynvml.c_nvmlSample_t) and samples[0].timeStamp == EPOCH_US
    processes = fake.nvmlDeviceGetComputeRunningProcesses(fake.nvmlDeviceGetHandleByIndex(3))
    assert [p.pid for p in processes] == [41003, 41103, 52003]
    assert processes[0].usedGpuMemory == int(71.25 * 1024**3)


def test_unsupported_fields_raise_the_right_subclass() -> None:
    fake, _ = started("consumer-unsupported")
    handle = fake.nvmlDeviceGetHandleByIndex(0)
    with pytest.raises(pynvml.NVMLError_NotSupported):
        fake.nvmlDeviceGetTotalEccErrors(
            handle, pynvml.NVML_MEMORY_ERROR_TYPE_CORRECTED, pynvml.NVML_VOLATILE_ECC
        )
    with pytest.raises(pynvml.NVMLError_NoPermission):
        fake.nvmlDeviceGetEnforcedPowerLimit(handle)
    with pytest.raises(pynvml.NVMLError_FunctionNotFound):
        fake.nvmlDeviceGetCurrentClocksEventReasons(handle)
    with pytest.raises(pynvml.NVMLError_FunctionNotFound):
        fake.nvmlDeviceGetMemoryInfo(handle, version=pynvml.nvmlMemory_v2)
    assert fake.nvmlDeviceGetCurrentClocksThrottleReasons(handle) & pynvml.nvmlClocksThrottleReasonGpuIdle


def test_samples_since_a_timestamp_and_not_found_when_none_are_newer() -> None:
    fake, clock = started(fixture("busy-steps"))
    handle = fake.nvmlDeviceGetHandleByIndex(0)
    clock.advance(11)
    _, samples = fake.nvmlDeviceGetSamples(handle, pynvml.NVML_GPU_UTILIZATION_SAMPLES, EPOCH_US + 9_000_000)
    assert [(s.timeStamp - EPOCH_US, s.sampleValue.uiVal) for s in samples] == [
        (9_500_000, 0),
        (10_000_000, 100),
        (10_500_000, 100),
        (11_000_000, 100),
    ]
    with pytest.raises(pynvml.NVMLError_NotFound):
        fake.nvmlDeviceGetSamples(handle, pynvml.NVML_GPU_UTILIZATION_SAMPLES, EPOCH_US + 11_000_000)


def test_mig_devices_have_memory_but_no_utilization() -> None:
    fake, _ = started("a100-mig")
    parent = fake.nvmlDeviceGetHandleByIndex(0)
    assert fake.nvmlDeviceGetMigMode(parent) == [pynvml.NVML_DEVICE_MIG_ENABLE] * 2
    mig = fake.nvmlDeviceGetMigDeviceHandleByIndex(parent, 0)
    assert fake.nvmlDeviceGetName(mig) == "NVIDIA A100-SXM4-80GB MIG 3g.40gb"
    assert fake.nvmlDeviceGetUUID(mig).startswith("MIG-")
    assert fake.nvmlDeviceGetMemoryInfo(mig).total == 40192 * 1024**2
    with pytest.raises(pynvml.NVMLError_NotSupported):
        fake.nvmlDeviceGetUtilizationRates(mig)
    with pytest.raises(pynvml.NVMLError_NotSupported):
        fake.nvmlDeviceGetUtilizationRates(parent)
    with pytest.raises(pynvml.NVMLError_NotFound):
        fake.nvmlDeviceGetMigDeviceHandleByIndex(parent, 4)
    assert [p.usedGpuMemory for p in fake.nvmlDeviceGetComputeRunningProcesses(mig)] == [None]


def test_mig_devices_sit_in_their_slots_and_empty_slots_are_not_found() -> None:
    fake, _ = started(fixture("mig-slots"))
    parent = fake.nvmlDeviceGetHandleByIndex(0)
    found = {}
    for slot in range(fake.nvmlDeviceGetMaxMigDeviceCount(parent)):
        try:
            mig = fake.nvmlDeviceGetMigDeviceHandleByIndex(parent, slot)
        except pynvml.NVMLError_NotFound:
            continue
        found[slot] = (fake.nvmlDeviceGetName(mig).rsplit(" ", 1)[1], fake.nvmlDeviceGetGpuInstanceId(mig))
    assert found == {1: ("3g.40gb", 2), 4: ("1g.10gb", 5)}


def test_field_values_come_back_in_pynvmls_structures_each_with_its_own_return() -> None:
    fake, clock = started("consumer-unsupported")
    handle = fake.nvmlDeviceGetHandleByIndex(0)
    clock.advance(1)
    requested = [
        pynvml.NVML_FI_DEV_PCIE_COUNT_TX_BYTES,
        (pynvml.NVML_FI_DEV_PCIE_REPLAY_COUNTER, 0),  # pynvml also takes (field id, scope id)
        pynvml.NVML_FI_DEV_POWER_INSTANT,  # a field the fake does not model
    ]
    values = fake.nvmlDeviceGetFieldValues(handle, requested)
    assert isinstance(values, ctypes.Array) and values._type_ is pynvml.c_nvmlFieldValue_t
    assert [v.fieldId for v in values] == [197, 94, 186]
    assert [v.nvmlReturn for v in values] == [
        pynvml.NVML_ERROR_NOT_SUPPORTED,  # no PCIe byte counters on this old driver
        pynvml.NVML_SUCCESS,
        pynvml.NVML_ERROR_NOT_SUPPORTED,
    ]
    assert (values[1].valueType, values[1].value.uiVal) == (pynvml.NVML_VALUE_TYPE_UNSIGNED_INT, 0)
    assert values[1].timestamp == EPOCH_US + 1_000_000


def test_pcie_byte_counters_grow_with_utilization_and_only_grow() -> None:
    fake, clock = started("h100-8x")
    handle = fake.nvmlDeviceGetHandleByIndex(0)
    ids = [pynvml.NVML_FI_DEV_PCIE_COUNT_TX_BYTES, pynvml.NVML_FI_DEV_PCIE_COUNT_RX_BYTES]
    readings = []
    for _ in range(3):
        clock.advance(10)
        values = fake.nvmlDeviceGetFieldValues(handle, ids)
        assert {v.valueType for v in values} == {pynvml.NVML_VALUE_TYPE_UNSIGNED_LONG_LONG}
        readings.append((values[0].value.ullVal, values[1].value.ullVal))
    assert readings[0][0] > 0 and all(rx > tx for tx, rx in readings)
    assert readings == sorted(readings) and len(set(readings)) == 3
    # at 78-99% utilization of 50,000,000 KB/s, 15% of it outbound, for 10 s
    assert 0.78 * 0.15 * 50e6 * 1024 * 10 <= readings[1][0] - readings[0][0] <= 0.99 * 0.15 * 50e6 * 1024 * 10


def test_a_lost_gpu_raises_gpu_is_lost_from_its_moment_on() -> None:
    fake, clock = started("failing-xid79")
    handle = fake.nvmlDeviceGetHandleByIndex(2)
    assert fake.nvmlDeviceGetPowerUsage(handle) > 0
    clock.advance(61)
    with pytest.raises(pynvml.NVMLError_GpuIsLost):
        fake.nvmlDeviceGetPowerUsage(handle)
    with pytest.raises(pynvml.NVMLError_GpuIsLost):
        fake.nvmlDeviceGetHandleByIndex(2)
    assert fake.nvmlDeviceGetPowerUsage(fake.nvmlDeviceGetHandleByIndex(1)) > 0


def test_scripted_xids_arrive_through_event_sets_when_due() -> None:
    fake, clock = started("failing-xid79")
    event_set = fake.nvmlEventSetCreate()
    for index in range(4):
        fake.nvmlDeviceRegisterEvents(
            fake.nvmlDeviceGetHandleByIndex(index), pynvml.nvmlEventTypeXidCriticalError, event_set
        )
    with pytest.raises(pynvml.NVMLError_Timeout):
        fake.nvmlEventSetWait(event_set, 10)
    clock.advance(30)
    first, second = fake.nvmlEventSetWait(event_set, 10), fake.nvmlEventSetWait(event_set, 10)
    assert (first.eventData, second.eventData) == (13, 48)
    assert second.device == fake.nvmlDeviceGetHandleByIndex(2)
    assert second.eventType == pynvml.nvmlEventTypeXidCriticalError
    fake.nvmlEventSetFree(event_set)


def test_an_event_wait_wakes_when_the_manual_clock_reaches_the_event() -> None:
    fake, clock = started("failing-xid79")
    event_set = fake.nvmlEventSetCreate()
    fake.nvmlDeviceRegisterEvents(
        fake.nvmlDeviceGetHandleByIndex(3), pynvml.nvmlEventTypeXidCriticalError, event_set
    )
    result: list[int] = []
    waiter = threading.Thread(
        target=lambda: result.append(fake.nvmlEventSetWait(event_set, 10_000).eventData)
    )
    waiter.start()
    clock.advance(20)
    waiter.join(timeout=5)
    assert result == [13]


def test_a_hung_call_blocks_until_released() -> None:
    fake, clock = started(fixture("hang-power"))
    gpu1 = fake.nvmlDeviceGetHandleByIndex(1)
    clock.advance(5)
    assert fake.nvmlDeviceGetPowerUsage(fake.nvmlDeviceGetHandleByIndex(0)) > 0  # only GPU 1 hangs
    done = threading.Event()
    threading.Thread(target=lambda: (fake.nvmlDeviceGetPowerUsage(gpu1), done.set()), daemon=True).start()
    assert fake.hang_entered.wait(5)
    assert not done.wait(0.2)
    fake.release()
    assert done.wait(5)


def test_init_error_until_a_moment() -> None:
    fake = FakeNvml(load(fixture("init-fails")), clock=(clock := ManualClock()))
    with pytest.raises(pynvml.NVMLError_DriverNotLoaded):
        fake.nvmlInit()
    clock.advance(10)
    fake.nvmlInit()
    assert fake.nvmlDeviceGetCount() == 1


def test_count_shorthand_expands_with_distinct_identities() -> None:
    scenario = load("h100-8x")
    assert len(scenario.gpus) == 8
    assert len({g.uuid for g in scenario.gpus}) == 8 and len({g.pci_bus_id for g in scenario.gpus}) == 8
    assert [g.index for g in scenario.gpus] == list(range(8))


def test_shipped_scenarios_all_load() -> None:
    assert {"h100-8x", "a100-mig", "consumer-unsupported", "failing-xid79"} <= set(shipped())
    for name in shipped():
        assert load(name).gpus


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("gpus: [{model: H900}]", "gpus[0].model: unknown model 'H900'"),
        ("gpus: [{model: GTX-1080, utilization: 1.5}]", "gpus[0].utilization: must be a ratio from 0 to 1"),
        ("gpus: [{model: GTX-1080, utilisation: 0.5}]", "gpus[0].utilisation: unknown key"),
        ("gpus: [{model: GTX-1080, mig: [{profile: 1g.10gb}]}]", "GTX-1080 has no MIG"),
        ("gpus: [{model: A100-SXM4-80GB, mig: [{profile: 9g.99gb}]}]", "unknown A100-SXM4-80GB MIG profile"),
        ("gpus: [{model: GTX-1080, unsupported: [warp_drive]}]", "unknown field 'warp_drive'"),
        ("gpus: [{model: GTX-1080, count: 0}]", "gpus[0].count: must be at least 1"),
        ("gpus: [{model: A100-SXM4-80GB, mig: [{profile: 1g.10gb, slot: 7}]}]", "slot: must be below 7"),
        (
            "gpus: [{model: A100-SXM4-80GB, mig: "
            "[{profile: 1g.10gb, slot: 2}, {profile: 3g.40gb, slot: 2}]}]",
            "gpus[0].mig: two MIG devices in one slot: [2, 2]",
        ),
        ("gpus: [{model: GTX-1080, pcie_replays: -1}]", "gpus[0].pcie_replays: must be at least 0"),
        ("gpus: []", "gpus: at least one GPU is required"),
        ("gpus: [{model: GTX-1080}]\nhang: {function: nvmlFly}", "hang.function: unknown function 'nvmlFly'"),
        ("gpus: [{model: GTX-1080, utilization: {steps: [[5, 0.1], [2, 0.2]]}}]", "steps[1]"),
        ("gpus: [{model: GTX-1080\n", "line"),
    ],
)
def test_bad_scenarios_name_the_file_and_the_problem(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "broken.yaml"
    path.write_text(text)
    with pytest.raises(ScenarioError) as error:
        load(str(path))
    assert str(path) in str(error.value) and message in str(error.value)


def test_all_problems_of_a_scenario_are_reported_at_once(tmp_path: Path) -> None:
    path = tmp_path / "two.yaml"
    path.write_text("gpus: [{model: H900, lost_at: -1}]\nsample_interval: 0\n")
    with pytest.raises(ScenarioError) as error:
        load(str(path))
    assert all(p in str(error.value) for p in ("model", "lost_at", "sample_interval"))


def test_unknown_scenario_name_lists_the_shipped_ones() -> None:
    with pytest.raises(ScenarioError, match=r"shipped: .*h100-8x"):
        load("h200-16x")


def test_fake_uuids_are_the_uuid5_values_without_hashlib() -> None:
    import uuid

    from exporter.gpu.fake_nvml.ids import url_uuid5

    for name in ("mlobs-fake/h100-8x/0", "GPU-x/1/0", "ünïcode"):
        assert url_uuid5(name) == uuid.uuid5(uuid.NAMESPACE_URL, name)

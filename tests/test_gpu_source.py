"""The NVML source and GPU collector against fake scenarios: values, absences, and failure handling."""

from __future__ import annotations

import threading
import time

import pynvml
import pytest

from exporter.gpu.nvml import Backoff, NvmlSource
from tests.gpu_invariants import check_progress, check_scrape
from tests.gpu_support import WALL, Rig, fixture, rig
from tests.helpers import promtool_check_metrics, value

MIB = 1024**2


def test_h100_node_values_identity_and_invariants() -> None:
    with rig("h100-8x") as r:
        r.clock.advance(10)
        body = r.scrape()
    assert check_scrape(body, backend="fake") == []
    assert promtool_check_metrics(body) == ""
    info = [line for line in body.splitlines() if line.startswith("nvidia_gpu_info{")]
    assert len(info) == 8
    assert 'name="NVIDIA H100 80GB HBM3"' in info[0] and 'driver_version="550.90.07"' in info[0]
    assert (
        'cuda_driver_version="12.4"' in info[0] and 'node="node-a"' in info[0] and 'backend="fake"' in info[0]
    )
    assert value(body, "nvidia_gpu_memory_total_bytes", gpu="3") == 81559 * MIB
    assert value(body, "nvidia_gpu_memory_reserved_bytes", gpu="3") == 542 * MIB
    assert value(body, "nvidia_gpu_power_limit_watts", gpu="3") == 700.0
    assert value(body, "nvidia_gpu_memory_clock_hertz", gpu="3") == 2619e6
    assert (
        value(body, "nvidia_gpu_ecc_errors_total", gpu="3", error_type="corrected", counter="aggregate") == 3
    )
    assert value(body, "nvidia_gpu_mig_mode_enabled", gpu="3") == 0
    assert value(body, "nvidia_gpu_remapped_rows_pending", gpu="3") == 0


def test_values_follow_the_scenario_with_base_unit_conversions() -> None:
    with rig("failing-xid79", pcie_sampling=True) as r:  # GPU 0: a V100 at a constant 90% utilization
        r.clock.advance(5)
        body = r.scrape()
    gpu = {"gpu": "0"}
    assert value(body, "nvidia_gpu_utilization_ratio", **gpu) == 0.9
    assert value(body, "nvidia_gpu_power_watts", **gpu) == pytest.approx(42 + 258 * 0.9)  # mW -> W
    assert value(body, "nvidia_gpu_temperature_celsius", **gpu) == 70
    assert value(body, "nvidia_gpu_sm_clock_hertz", **gpu) == 1530e6  # MHz -> Hz
    assert (
        value(body, "nvidia_gpu_pcie_throughput_bytes_per_second", **gpu, direction="tx")
        == round(12_000_000 * 0.15 * 0.9) * 1024
    )  # KB/s -> B/s
    assert value(body, "nvidia_gpu_performance_state", **gpu) == 0
    assert value(body, "nvidia_gpu_retired_pages_total", gpu="2", cause="double_bit_ecc") == 2
    assert value(body, "nvidia_gpu_retired_pages_pending", gpu="2") == 1
    assert (
        value(body, "nvidia_gpu_ecc_errors_total", gpu="2", error_type="uncorrected", counter="volatile") == 2
    )
    assert value(body, "nvidia_gpu_clock_event_active", gpu="2", reason="hw_slowdown") == 1
    assert value(body, "nvidia_gpu_clock_event_active", gpu="2", reason="sw_thermal") == 0
    assert value(body, "nvidia_gpu_remapped_rows_total", gpu="0", severity="correctable") is None  # Volta


def test_unsupported_fields_are_absent_never_zero_and_asked_once() -> None:
    with rig("consumer-unsupported") as r:
        first = r.scrape()
        r.clock.advance(40)
        body = r.scrape()
        calls = dict(r.fake.calls)
    assert check_scrape(body, backend="fake") == []
    for absent in (
        "nvidia_gpu_ecc_errors_total",
        "nvidia_gpu_remapped_rows_total",
        "nvidia_gpu_retired_pages_total",
        "nvidia_gpu_energy_joules_total",
        "nvidia_gpu_pcie_bytes_total",
        "nvidia_gpu_power_limit_watts",  # NoPermission
        "nvidia_gpu_memory_reserved_bytes",  # the driver lacks memory info v2
        "nvidia_gpu_mig_mode_enabled",
    ):
        assert f"\n{absent}{{" not in body, absent
    assert value(body, "nvidia_gpu_fan_speed_ratio", gpu="0") == 0.58  # 30% + 50% x 0.55, whole percent
    assert value(body, "nvidia_gpu_memory_total_bytes", gpu="0") == 8192 * MIB  # memory info v1 fallback
    assert (
        value(body, "nvidia_gpu_clock_event_active", gpu="0", reason="gpu_idle") == 0
    )  # throttle-reasons fallback
    assert calls["nvmlDeviceGetTotalEccErrors"] == 1
    assert "nvmlDeviceGetPcieThroughput" not in calls  # sampling is off by default
    assert calls["nvmlDeviceGetCurrentClocksEventReasons"] == 1
    assert calls["nvmlDeviceGetCurrentClocksThrottleReasons"] == 2
    assert value(body, "nvidia_nvml_errors_total", kind="not_supported") == value(
        first, "nvidia_nvml_errors_total", kind="not_supported"
    )
    assert value(body, "nvidia_nvml_errors_total", kind="no_permission") == 1
    assert value(body, "mlobs_collector_success", collector="gpu") == 1


def test_busy_seconds_integrate_the_samples_exactly() -> None:
    with rig(fixture("busy-steps")) as r:
        r.scrape()  # t=0: the first sample only sets the starting point
        r.clock.advance(15)
        middle = r.scrape()
        r.clock.advance(15)
        body = r.scrape()
    # Each sample covers the half second before it: samples at 10, 10.5 ... 15 are 100% (11 x 0.5 s),
    # then 9 more at 100% up to 19.5 and 21 at 50% from 20 to 30.
    assert value(middle, "nvidia_gpu_busy_seconds_total", gpu="0") == 5.5
    assert value(body, "nvidia_gpu_busy_seconds_total", gpu="0") == 15.25
    assert check_progress(middle, body, elapsed_seconds=15) == []


def test_two_scrapers_do_not_double_count_busy_time() -> None:
    with rig(fixture("busy-steps")) as r:
        r.scrape()
        for _ in range(6):
            r.clock.advance(5)
            bodies = [r.scrape(), r.scrape()]  # an HA pair of Prometheus servers, one after the other
        concurrent: list[str] = []
        threads = [threading.Thread(target=lambda: concurrent.append(r.scrape())) for _ in range(8)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(10)
    assert [value(b, "nvidia_gpu_busy_seconds_total", gpu="0") for b in bodies] == [15.25, 15.25]
    assert {value(b, "nvidia_gpu_busy_seconds_total", gpu="0") for b in concurrent} == {15.25}


def test_mig_parent_and_instances() -> None:
    with rig("a100-mig") as r:
        r.clock.advance(30)
        body = r.scrape()
    assert check_scrape(body, backend="fake") == []
    assert value(body, "nvidia_gpu_mig_mode_enabled", gpu="0") == 1
    assert value(body, "nvidia_gpu_mig_mode_enabled", gpu="1") == 0
    instances = [line for line in body.splitlines() if line.startswith("nvidia_gpu_mig_instance_info{")]
    assert len(instances) == 4 and sum('profile="1g.10gb"' in line for line in instances) == 2
    assert value(body, "nvidia_gpu_mig_instance_info", gpu="0", profile="3g.40gb", gpu_instance="1") == 1
    big = next(line for line in instances if "3g.40gb" in line).split('mig_uuid="')[1].split('"')[0]
    assert value(body, "nvidia_gpu_mig_memory_total_bytes", mig_uuid=big) == 40192 * MIB
    assert value(body, "nvidia_gpu_mig_memory_used_bytes", mig_uuid=big) == 31.5 * 1024**3
    # NVML has no utilization under MIG: absent on the MIG-enabled GPU, present on the whole one.
    assert value(body, "nvidia_gpu_utilization_ratio", gpu="0") is None
    assert value(body, "nvidia_gpu_busy_seconds_total", gpu="0") is None
    assert value(body, "nvidia_gpu_utilization_ratio", gpu="1") == 0.65


def test_processes_are_read_only_on_request() -> None:
    with rig("h100-8x") as r:
        r.clock.advance(3)
        r.scrape()
        snapshot = r.collector.last_snapshot()
        assert snapshot is not None and snapshot.devices[0].processes is None
        assert "nvmlDeviceGetComputeRunningProcesses" not in r.fake.calls
        r.collector.enable_processes()
        r.clock.advance(3)
        body = r.scrape()
        snapshot = r.collector.last_snapshot()
    assert snapshot is not None
    rank7 = snapshot.devices[7]
    assert [(p.pid, p.used_memory_bytes) for p in rank7.processes or ()] == [
        (41007, int(71.25 * 1024**3)),
        (41107, int(0.5 * 1024**3)),
        (52007, int(2.25 * 1024**3)),
    ]
    assert {(u.pid, u.sm_ratio) for u in rank7.process_utilization or ()} == {
        (41007, 0.88),
        (41107, 0.01),
        (52007, 0.05),
    }
    assert "41007" not in body  # processes are attribution's data, never exported here


def test_a_second_scraper_sees_the_same_process_samples_instead_of_a_gap() -> None:
    with rig("h100-8x") as r:
        r.collector.enable_processes()
        r.clock.advance(3)
        r.scrape()
        first = r.collector.last_snapshot()
        r.scrape()  # the other Prometheus of an HA pair, before the driver has a new sample
        second = r.collector.last_snapshot()
    assert first is not None and second is not None
    held = {(u.pid, u.sm_ratio) for u in second.devices[7].process_utilization or ()}
    assert held == {(u.pid, u.sm_ratio) for u in first.devices[7].process_utilization or ()}
    assert (41007, 0.88) in held


def test_mig_processes_have_no_memory_figure() -> None:
    with rig("a100-mig") as r:
        r.collector.enable_processes()
        r.scrape()
        snapshot = r.collector.last_snapshot()
    assert snapshot is not None
    mig = snapshot.devices[0].mig_instances[0]
    assert [(p.pid, p.used_memory_bytes, p.gpu_instance) for p in mig.processes or ()] == [(6100, None, 1)]
    assert snapshot.devices[0].process_utilization is None  # not supported under MIG
    assert [p.pid for p in snapshot.devices[1].processes or ()] == [7100]


def test_xids_are_counted_with_last_seen_and_repeats_stay_visible() -> None:
    with rig(fixture("xid-repeat"), xid_events=True) as r:
        r.scrape()  # initialises NVML and registers for events at t=0
        assert r.source.xids is not None
        r.clock.advance(6)
        assert r.source.xids.wait_processed(1, timeout=5)
        first = r.scrape()
        r.clock.advance(6)
        assert r.source.xids.wait_processed(3, timeout=5)
        body = r.scrape()
    assert value(first, "nvidia_gpu_xid_errors_total", gpu="0", xid="31") == 1
    assert value(first, "nvidia_gpu_xid_last_seen_timestamp_seconds", gpu="0", xid="31") == WALL + 1006
    assert value(body, "nvidia_gpu_xid_errors_total", gpu="0", xid="31") == 2
    assert value(body, "nvidia_gpu_xid_last_seen_timestamp_seconds", gpu="0", xid="31") == WALL + 1012
    assert value(body, "nvidia_gpu_xid_errors_total", gpu="0", xid="94") == 1
    assert value(body, "nvidia_gpu_xid_errors_total", gpu="1", xid="31") is None
    assert promtool_check_metrics(body) == ""


def test_xid79_then_lost_gpu_is_down_the_others_are_read_and_nvml_reinits_with_backoff() -> None:
    with rig("failing-xid79", xid_events=True, backoff=Backoff(initial=2, maximum=8)) as r:
        r.scrape()
        assert r.source.xids is not None
        r.clock.advance(60)
        assert r.source.xids.wait_processed(3, timeout=5)  # XIDs 13, 48, 79
        r.clock.advance(1)
        lost = r.scrape()
        reinits = []
        # Each failed attempt doubles the wait (2, 4, 8 s, capped at 8): attempts at +2.5, +7, +15, +23.
        for step in (1, 1.5, 1, 2.5, 1, 7, 1, 7, 1):
            r.clock.advance(step)
            reinits.append(value(r.scrape(), "nvidia_nvml_reinits_total"))
    assert value(lost, "nvidia_gpu_xid_errors_total", gpu="2", xid="79") == 1
    assert value(lost, "nvidia_gpu_up", gpu="2") == 0
    assert value(lost, "nvidia_gpu_power_watts", gpu="2") is None
    assert [value(lost, "nvidia_gpu_up", gpu=g) for g in "013"] == [1, 1, 1]
    assert value(lost, "nvidia_gpu_power_watts", gpu="3") is not None
    assert value(lost, "nvidia_nvml_up") == 1
    assert value(lost, "nvidia_nvml_errors_total", kind="gpu_is_lost") == 1
    assert value(lost, "mlobs_collector_success", collector="gpu") == 0
    assert 'name="Tesla V100-SXM2-32GB"' in next(
        line for line in lost.splitlines() if line.startswith("nvidia_gpu_info{") and 'gpu="2"' in line
    )
    assert reinits == [0, 1, 1, 1, 2, 2, 3, 3, 4]
    assert promtool_check_metrics(lost) == ""


def test_nvml_that_cannot_initialise_is_retried_with_backoff_until_it_can() -> None:
    with rig(fixture("init-fails"), backoff=Backoff(initial=2, maximum=60)) as r:
        down = r.scrape()
        r.clock.advance(1)
        r.scrape()
        attempts_in_backoff = r.fake.calls["nvmlInit"]
        r.clock.advance(1.5)
        r.scrape()
        r.clock.advance(10)
        up = r.scrape()
        health = r.collector.health()
    assert value(down, "nvidia_nvml_up") == 0
    assert value(down, "nvidia_nvml_errors_total", kind="driver_not_loaded") == 1
    assert value(down, "mlobs_collector_success", collector="gpu") == 0
    assert "nvidia_gpu_up{" not in down  # never seen: nothing to report yet
    assert attempts_in_backoff == 1
    assert value(up, "nvidia_nvml_up") == 1 and value(up, "nvidia_nvml_reinits_total") == 2
    assert value(up, "nvidia_gpu_utilization_ratio", gpu="0") == 0.25
    assert health.ok


def snapshot_problem(r: Rig) -> str:
    snapshot = r.source.last_snapshot()
    assert snapshot is not None
    return snapshot.problem


def test_a_hung_call_fails_the_scrape_within_the_timeout_and_health_reports_it() -> None:
    with rig(fixture("hang-power"), call_timeout=0.3) as r:
        assert value(r.scrape(), "nvidia_nvml_up") == 1
        r.clock.advance(5)
        hung = r.scrape()  # answered while the call still hangs: it is released only below
        assert r.fake.hang_entered.is_set()
        first_problem = snapshot_problem(r)
        health = r.collector.health()
        again = r.scrape()
        second_problem = snapshot_problem(r)
        r.fake.release()
        deadline = time.monotonic() + 5
        while not r.collector.health().ok and time.monotonic() < deadline:
            time.sleep(0.01)
        recovered = r.scrape()
    assert first_problem == "NVML call did not return within 0.3 s"  # waited for the call timeout
    assert second_problem.startswith("NVML call hung for")  # still stuck: failed at once, nothing queued
    assert value(hung, "nvidia_nvml_up") == 0 and value(hung, "nvidia_nvml_call_timeouts_total") == 1
    assert value(hung, "nvidia_gpu_up", gpu="0") == 0
    assert value(hung, "mlobs_collector_success", collector="gpu") == 0
    assert not health.ok and health.detail.startswith("NVML call hung for")
    assert value(again, "nvidia_nvml_call_timeouts_total") == 2
    assert value(recovered, "nvidia_nvml_up") == 1 and value(recovered, "nvidia_gpu_up", gpu="1") == 1


def test_real_pynvml_without_a_driver_reports_nvml_down_and_keeps_going() -> None:
    try:
        pynvml.nvmlInit()
    except pynvml.NVMLError:
        pass
    else:
        pynvml.nvmlShutdown()
        pytest.skip("this machine has an NVIDIA driver; tests/device covers real hardware")
    source = NvmlSource(pynvml, call_timeout=2.0)
    try:
        snapshot = source.read()
        again = source.read()  # within the backoff: no new attempt, no exception
    finally:
        source.close()
    assert not snapshot.nvml_up and not snapshot.devices
    assert set(snapshot.errors) & {"library_not_found", "driver_not_loaded"}
    assert "NVML initialisation failed" in snapshot.problem
    assert again.errors == snapshot.errors
    assert source.health().ok  # no driver is visible as nvidia_nvml_up 0, not as a dead exporter


def test_closing_while_nvml_is_hung_returns_without_waiting_for_the_call(
    caplog: pytest.LogCaptureFixture,
) -> None:
    with rig(fixture("hang-power"), call_timeout=0.3, xid_events=True) as r:
        r.scrape()
        r.clock.advance(5)
        r.scrape()
        assert r.fake.hang_entered.is_set()
        closed = threading.Event()

        def close() -> None:
            r.source.close()
            closed.set()

        threading.Thread(target=close, daemon=True).start()
        # The call is released only when the rig ends: closing must not wait for it.
        assert closed.wait(30), "close() blocked behind the hung NVML call"
        assert not r.collector.health().ok
    # NVML is not shut down under a stuck call; the exporter can still exit.
    assert "NVML still hung at exit" in caplog.text

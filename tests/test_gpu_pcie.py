"""PCIe traffic from cumulative field values, one nvmlDeviceGetFieldValues call per GPU and scrape,
and the sampled throughput gauge that only --gpu.pcie-throughput-sampling turns on."""

from __future__ import annotations

import itertools
from pathlib import Path
from typing import Any

import pynvml
import pytest

from exporter.gpu.fake_nvml.models import FIELD_IDS
from exporter.gpu.nvml_device import FIELD_VALUES, union_value
from exporter.gpu.nvml_errors import DeviceLost, ErrorCounter, FieldReader
from exporter.gpu.plugin import GPU_PLUGIN
from exporter.settings import ConfigError, parse
from tests.gpu_invariants import check_progress, check_scrape
from tests.gpu_support import fixture, rig
from tests.helpers import promtool_check_metrics, running_exporter, scrape, value

TX, RX = pynvml.NVML_FI_DEV_PCIE_COUNT_TX_BYTES, pynvml.NVML_FI_DEV_PCIE_COUNT_RX_BYTES
REPLAYS = pynvml.NVML_FI_DEV_PCIE_REPLAY_COUNTER
H100_TX_BYTES_PER_BUSY_SECOND = 50_000_000 * 1024 * 0.15  # the fake H100 sends 15% of 50 GB/s at full load


def test_byte_and_replay_counters_follow_the_scenario_in_base_units() -> None:
    with rig("failing-xid79") as r:
        r.clock.advance(5)
        body = r.scrape()
    # GPU 0: a V100 (12,000,000 KB/s) at 90% for 5 s; 15% of that goes out, 35% comes in.
    assert value(body, "nvidia_gpu_pcie_bytes_total", gpu="0", direction="tx") == 8_294_400_000
    assert value(body, "nvidia_gpu_pcie_bytes_total", gpu="0", direction="rx") == 19_353_600_000
    assert value(body, "nvidia_gpu_pcie_replays_total", gpu="2") == 212
    assert value(body, "nvidia_gpu_pcie_replays_total", gpu="0") == 0
    assert check_scrape(body, backend="fake") == []
    assert promtool_check_metrics(body) == ""


def test_byte_counters_grow_only_while_the_gpu_is_busy_and_never_go_down() -> None:
    with rig(fixture("busy-steps")) as r:  # idle, 100% from 10 s, 50% from 20 s; samples every 0.5 s
        bodies = []
        for _ in range(6):
            r.clock.advance(5)
            bodies.append(r.scrape())
    tx = [value(body, "nvidia_gpu_pcie_bytes_total", gpu="0", direction="tx") for body in bodies]
    assert tx == [0, 3.84e9, 42.24e9, 78.72e9, 97.92e9, 117.12e9]
    busy = [value(body, "nvidia_gpu_busy_seconds_total", gpu="0") or 0.0 for body in bodies]
    assert tx == [seconds * H100_TX_BYTES_PER_BUSY_SECOND for seconds in busy]
    for before, after in itertools.pairwise(bodies):
        assert check_progress(before, after, elapsed_seconds=5) == []


def test_one_field_values_call_per_gpu_and_scrape_and_no_sampling_by_default() -> None:
    with rig("h100-8x") as r:
        r.clock.advance(3)
        r.scrape()
        r.clock.advance(3)
        body = r.scrape()
        calls = dict(r.fake.calls)
    assert calls["nvmlDeviceGetFieldValues"] == 2 * 8
    assert "nvmlDeviceGetPcieThroughput" not in calls
    assert "\nnvidia_gpu_pcie_throughput_bytes_per_second{" not in body
    assert (value(body, "nvidia_gpu_pcie_bytes_total", gpu="7", direction="rx") or 0) > 0


def test_sampling_adds_the_throughput_gauge_at_two_driver_samples_per_gpu() -> None:
    with rig("h100-8x", pcie_sampling=True) as r:
        r.clock.advance(3)
        body = r.scrape()
        calls = dict(r.fake.calls)
    assert calls["nvmlDeviceGetPcieThroughput"] == 2 * 8
    assert (value(body, "nvidia_gpu_pcie_throughput_bytes_per_second", gpu="5", direction="tx") or 0) > 0
    assert (value(body, "nvidia_gpu_pcie_bytes_total", gpu="5", direction="tx") or 0) > 0
    assert check_scrape(body, backend="fake") == []


def test_unsupported_byte_counters_are_absent_and_not_asked_again_while_replays_are_read() -> None:
    with rig("consumer-unsupported") as r:
        requested: list[list[int]] = []
        real = r.fake.nvmlDeviceGetFieldValues

        def recording(handle: Any, fieldIds: list[Any]) -> Any:
            requested.append(list(fieldIds))
            return real(handle, fieldIds)

        r.fake.nvmlDeviceGetFieldValues = recording  # type: ignore[method-assign]
        first = r.scrape()
        r.clock.advance(40)
        body = r.scrape()
    # Every field the reader knows is asked once; then only those the board answered (the replay counter).
    asked = [getattr(pynvml, constant) for _, constant in FIELD_VALUES]
    unsupported = r.fake.scenario.gpus[0].unsupported
    assert TX in asked and RX in asked and REPLAYS in asked
    assert requested == [asked, [i for i in asked if FIELD_IDS.get(i) not in unsupported]]
    assert REPLAYS in requested[1] and TX not in requested[1] and RX not in requested[1]
    assert "\nnvidia_gpu_pcie_bytes_total{" not in body  # never 0 for a counter the driver lacks
    assert value(body, "nvidia_gpu_pcie_replays_total", gpu="0") == 0
    assert value(body, "nvidia_nvml_errors_total", kind="not_supported") == value(
        first, "nvidia_nvml_errors_total", kind="not_supported"
    )
    assert value(body, "mlobs_collector_success", collector="gpu") == 1


def test_an_entry_refused_and_a_call_refused_are_each_remembered_per_gpu() -> None:
    with rig(fixture("field-errors")) as r:
        r.clock.advance(2)
        first = r.scrape()
        r.clock.advance(2)
        body = r.scrape()
        calls = dict(r.fake.calls)
    # GPU 0: NO_PERMISSION in the replay counter's own entry; its byte counters came in the same call.
    assert value(body, "nvidia_gpu_pcie_replays_total", gpu="0") is None
    assert (value(body, "nvidia_gpu_pcie_bytes_total", gpu="0", direction="tx") or 0) > 0
    # GPU 1: the whole call is NOT_SUPPORTED, asked once.
    assert value(body, "nvidia_gpu_pcie_bytes_total", gpu="1", direction="tx") is None
    assert value(body, "nvidia_gpu_pcie_replays_total", gpu="1") is None
    assert calls["nvmlDeviceGetFieldValues"] == 2 + 1
    assert value(body, "nvidia_nvml_errors_total", kind="no_permission") == 1
    for kind in ("no_permission", "not_supported"):
        assert value(body, "nvidia_nvml_errors_total", kind=kind) == value(
            first, "nvidia_nvml_errors_total", kind=kind
        )
    assert value(body, "mlobs_collector_success", collector="gpu") == 1
    assert promtool_check_metrics(body) == ""


class EntryScript:
    """nvmlDeviceGetFieldValues answering each id with a scripted (nvmlReturn, valueType, value),
    in pynvml's own structures: for the error paths no scenario can reach."""

    NVMLError = pynvml.NVMLError

    def __init__(self, entries: dict[int, tuple[int, int, int]]) -> None:
        self.entries = entries

    def nvmlDeviceGetFieldValues(self, handle: Any, fieldIds: list[int]) -> Any:
        values = (pynvml.c_nvmlFieldValue_t * len(fieldIds))()
        for entry, field_id in zip(values, fieldIds, strict=True):
            entry.fieldId = field_id
            entry.nvmlReturn, entry.valueType, entry.value.ullVal = self.entries[field_id]
        return values


def test_an_entry_with_a_transient_error_is_omitted_once_and_asked_again() -> None:
    ok = (pynvml.NVML_SUCCESS, pynvml.NVML_VALUE_TYPE_UNSIGNED_LONG_LONG, 7)
    nvml = EntryScript({TX: ok, RX: (pynvml.NVML_ERROR_UNKNOWN, 0, 0)})
    reader = FieldReader(nvml, ErrorCounter(pynvml))
    fields = [("tx", TX), ("rx", RX)]
    assert set(reader.values("GPU-a", None, fields)) == {"tx"}
    assert reader.incomplete and reader.unavailable("GPU-a") == frozenset()
    nvml.entries[RX] = ok
    assert set(reader.values("GPU-a", None, fields)) == {"tx", "rx"}


def test_an_entry_saying_the_gpu_is_lost_takes_the_gpu_down() -> None:
    nvml = EntryScript({TX: (pynvml.NVML_ERROR_GPU_IS_LOST, 0, 0)})
    with pytest.raises(DeviceLost):
        FieldReader(nvml, ErrorCounter(pynvml)).values("GPU-a", None, [("tx", TX)])


@pytest.mark.parametrize(
    ("value_type", "member", "number", "expected"),
    [
        (pynvml.NVML_VALUE_TYPE_DOUBLE, "dVal", 2.5, 2.5),
        (pynvml.NVML_VALUE_TYPE_UNSIGNED_INT, "uiVal", 212, 212),
        (pynvml.NVML_VALUE_TYPE_UNSIGNED_LONG_LONG, "ullVal", 2**40 + 3, 2**40 + 3),
        (pynvml.NVML_VALUE_TYPE_SIGNED_LONG_LONG, "sllVal", -5, -5),
        (pynvml.NVML_VALUE_TYPE_UNSIGNED_SHORT, "usVal", 9, 9),
        (pynvml.NVML_VALUE_TYPE_COUNT, "ullVal", 1, None),  # a type newer than the table: no guess
    ],
)
def test_field_values_are_read_by_their_own_value_type(
    value_type: int, member: str, number: float, expected: float | None
) -> None:
    entry = pynvml.c_nvmlFieldValue_t()
    entry.valueType = value_type
    setattr(entry.value, member, number)
    assert union_value(entry.valueType, entry.value) == expected


def test_flag_and_config_key_turn_sampling_on(tmp_path: Path) -> None:
    config = tmp_path / "exporter.yaml"
    config.write_text("gpu:\n  pcie_throughput_sampling: true\n")

    def sampling(argv: list[str]) -> bool:
        return bool(parse(argv, {}, [GPU_PLUGIN]).collectors["gpu"].pcie_throughput_sampling)

    assert sampling([]) is False
    assert sampling(["--gpu.pcie-throughput-sampling"]) is True
    assert sampling([f"--config.file={config}"]) is True
    assert sampling([f"--config.file={config}", "--no-gpu.pcie-throughput-sampling"]) is False
    config.write_text("gpu:\n  pcie_throughput_sampling: often\n")
    with pytest.raises(ConfigError, match=r"gpu\.pcie_throughput_sampling"):
        parse([f"--config.file={config}"], {}, [GPU_PLUGIN])


def test_sampling_over_http_says_what_it_costs() -> None:
    argv = ["--gpu.backend=fake", "--gpu.pcie-throughput-sampling"]
    with running_exporter(argv, [GPU_PLUGIN]) as exporter:
        body = scrape(exporter)
    help_line = next(
        line for line in body.splitlines() if line.startswith("# HELP nvidia_gpu_pcie_throughput_bytes")
    )
    assert "--gpu.pcie-throughput-sampling" in help_line and "20 ms" in help_line
    assert value(body, "nvidia_gpu_pcie_throughput_bytes_per_second", gpu="0", direction="rx") is not None
    assert promtool_check_metrics(body) == ""

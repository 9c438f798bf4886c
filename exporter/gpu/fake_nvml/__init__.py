"""A pynvml-compatible fake NVML driven by YAML scenarios, for tests and demos (`--gpu.backend=fake`).

    fake = FakeNvml(load("h100-8x"), clock=ManualClock())
    fake.nvmlInit(); fake.nvmlDeviceGetCount()  # 8

`scenario_file` reads and validates a scenario into `scenario`'s frozen data (GPU `models`, utilization
`patterns`); `module` is `FakeNvml` (init, handles, a scripted hang), answering device calls from `devices`
(sampled values) and `device_records` (field values, memory errors, processes) and events from `events`;
scenario time runs on its clock (`clock.ManualClock` in tests). Data from it is labelled backend="fake"
wherever the exporter exports it.
"""

from exporter.gpu.fake_nvml.clock import ManualClock
from exporter.gpu.fake_nvml.module import FakeHandle, FakeNvml
from exporter.gpu.fake_nvml.scenario import Scenario
from exporter.gpu.fake_nvml.scenario_file import ScenarioError, load, resolve, shipped

__all__ = ["FakeHandle", "FakeNvml", "ManualClock", "Scenario", "ScenarioError", "load", "resolve", "shipped"]

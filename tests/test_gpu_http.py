"""The GPU plugin in a running exporter, scraped over HTTP on a free port."""

from __future__ import annotations

import json
import logging
import threading
from pathlib import Path

import pytest

from exporter.cli import main
from exporter.gpu.collector import GpuCollector
from exporter.gpu.fake_nvml import FakeNvml, ManualClock, shipped
from exporter.gpu.nvml import NvmlSource
from exporter.gpu.plugin import GPU_PLUGIN
from exporter.plugin import BuildContext
from exporter.settings import ConfigError, parse
from tests.gpu_invariants import check_progress, check_scrape
from tests.gpu_support import fixture
from tests.helpers import http_get, promtool_check_metrics, running_exporter, scrape, value

PLUGINS = [GPU_PLUGIN]


def gpu_collector(exporter: object) -> GpuCollector:
    collector = exporter.root.collectors[0]  # type: ignore[attr-defined]
    assert isinstance(collector, GpuCollector)
    return collector


@pytest.mark.parametrize("scenario", shipped())
def test_every_scenario_over_http_passes_promtool_and_the_invariants(scenario: str) -> None:
    argv = ["--gpu.backend=fake", f"--gpu.fake-scenario={scenario}"]
    environ = {"NODE_NAME": "gpu-node-7"}
    clock = ManualClock()
    ctx = BuildContext(node_name="gpu-node-7", environ=environ, clock=clock)
    with running_exporter(argv, PLUGINS, environ=environ, ctx=ctx) as exporter:
        first = scrape(exporter)
        clock.advance(15)  # before any scenario's first XID or lost GPU
        second = scrape(exporter)
    assert promtool_check_metrics(second) == ""
    assert check_scrape(second, backend="fake") == []
    assert check_progress(first, second, elapsed_seconds=15) == []
    assert value(second, "mlobs_build_info", gpu_backend="fake") == 1
    assert all(
        'node="gpu-node-7"' in line for line in second.splitlines() if line.startswith("nvidia_gpu_info{")
    )


def test_landing_page_and_health_list_the_gpu_collector() -> None:
    with running_exporter(["--gpu.backend=fake"], PLUGINS) as exporter:
        scrape(exporter)
        status, _, page = http_get(f"http://127.0.0.1:{exporter.port}/")
        health_status, _, health = http_get(f"http://127.0.0.1:{exporter.port}/health")
    assert status == 200 and "<li>gpu</li>" in page
    assert health_status == 200 and json.loads(health)["collectors"]["gpu"]["ok"] is True


def test_concurrent_scrapes_all_succeed_with_whole_outputs() -> None:
    with running_exporter(["--gpu.backend=fake"], PLUGINS) as exporter:
        barrier = threading.Barrier(20)
        bodies: list[str] = []

        def scrape_together() -> None:
            barrier.wait()
            bodies.append(scrape(exporter))

        threads = [threading.Thread(target=scrape_together) for _ in range(20)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(30)
    assert len(bodies) == 20
    assert all(check_scrape(body, backend="fake") == [] for body in bodies)


def test_a_lost_gpu_shows_as_down_over_http() -> None:
    clock = ManualClock()
    ctx = BuildContext(node_name="n", environ={}, clock=clock)
    argv = ["--gpu.backend=fake", "--gpu.fake-scenario=failing-xid79", "--no-gpu.xid-events"]
    with running_exporter(argv, PLUGINS, ctx=ctx) as exporter:
        before = scrape(exporter)
        clock.advance(61)
        after = scrape(exporter)
    assert value(before, "nvidia_gpu_up", gpu="2") == 1
    assert value(after, "nvidia_gpu_up", gpu="2") == 0
    assert value(after, "nvidia_gpu_up", gpu="1") == 1
    assert promtool_check_metrics(after) == ""


def test_a_hung_nvml_call_never_blocks_metrics_or_health() -> None:
    argv = ["--gpu.backend=fake", f"--gpu.fake-scenario={fixture('hang-power')}", "--gpu.call-timeout=0.3"]
    clock = ManualClock(start=0)
    ctx = BuildContext(node_name="n", environ={}, clock=clock)
    with running_exporter(argv, PLUGINS, ctx=ctx) as exporter:
        source = gpu_collector(exporter).source
        assert isinstance(source, NvmlSource) and isinstance(source.nvml, FakeNvml)
        assert value(scrape(exporter), "nvidia_nvml_up") == 1
        clock.advance(5)
        body = scrape(exporter)  # answered while the call still hangs: it is released only below
        assert source.nvml.hang_entered.is_set()
        status, _, health = http_get(f"http://127.0.0.1:{exporter.port}/health", timeout=2)
        source.nvml.release()
    assert value(body, "nvidia_nvml_up") == 0 and value(body, "nvidia_nvml_call_timeouts_total") == 1
    assert value(body, "mlobs_collector_success", collector="gpu") == 0
    assert status == 503 and "NVML call hung for" in json.loads(health)["collectors"]["gpu"]["detail"]
    assert promtool_check_metrics(body) == ""


def test_auto_backend_without_a_driver_serves_the_fake_and_says_so(caplog: pytest.LogCaptureFixture) -> None:
    with (
        caplog.at_level(logging.WARNING, logger="exporter.gpu"),
        running_exporter(["--gpu.backend=auto"], PLUGINS) as exporter,
    ):
        body = scrape(exporter)
    assert value(body, "mlobs_build_info", gpu_backend="fake") == 1
    assert check_scrape(body, backend="fake") == []
    warning = next(r.getMessage() for r in caplog.records if "SIMULATED" in r.getMessage())
    assert "no NVIDIA driver found" in warning and "h100-8x" in warning


def test_nvml_backend_without_a_driver_runs_and_reports_nvml_down() -> None:
    with running_exporter(["--gpu.backend=nvml"], PLUGINS) as exporter:
        body = scrape(exporter)
        status, _, _ = http_get(f"http://127.0.0.1:{exporter.port}/health")
    if value(body, "nvidia_nvml_up") == 1:
        pytest.skip("this machine has an NVIDIA driver; tests/device covers real hardware")
    assert value(body, "mlobs_build_info", gpu_backend="nvml") == 1
    assert value(body, "mlobs_collector_success", collector="gpu") == 0
    assert "nvidia_gpu_info{" not in body
    assert status == 200
    assert promtool_check_metrics(body) == ""


def test_config_file_section_configures_the_plugin(tmp_path: Path) -> None:
    config = tmp_path / "exporter.yaml"
    config.write_text(
        "gpu:\n  backend: fake\n  fake_scenario: a100-mig\n  call_timeout: 1.5\n  xid_events: false\n"
    )
    settings = parse([f"--config.file={config}"], {}, PLUGINS).collectors["gpu"]
    assert (settings.backend, settings.scenario_name, settings.call_timeout, settings.xid_events) == (
        "fake",
        "a100-mig",
        1.5,
        False,
    )
    flags = parse([f"--config.file={config}", "--gpu.call-timeout=3", "--gpu.xid-events"], {}, PLUGINS)
    assert (flags.collectors["gpu"].call_timeout, flags.collectors["gpu"].xid_events) == (3.0, True)


def test_every_bad_gpu_setting_is_reported_at_once(tmp_path: Path) -> None:
    config = tmp_path / "exporter.yaml"
    config.write_text("gpu:\n  backend: fake\n  call_timout: 1\n")
    argv = [f"--config.file={config}", "--gpu.backend=cuda", "--gpu.call-timeout=soon"]
    with pytest.raises(ConfigError) as error:
        parse(argv, {}, PLUGINS)
    problems = "\n".join(error.value.problems)
    assert "--gpu.backend: must be one of nvml, fake, auto, got 'cuda'" in problems
    assert (
        "--gpu.call-timeout: must be a duration like 2s, 500ms or 1m, or a number of seconds, got 'soon'"
        in problems
    )
    assert "gpu.call_timout: unknown key" in problems


def test_a_fake_scenario_needs_the_fake_or_auto_backend() -> None:
    with pytest.raises(ConfigError, match=r"only used with --gpu\.backend=fake or auto"):
        parse(["--gpu.backend=nvml", "--gpu.fake-scenario=a100-mig"], {}, PLUGINS)


def test_a_bad_scenario_file_exits_2_naming_the_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "mine.yaml"
    path.write_text("gpus:\n  - model: H100-SXM5-80GB\n    utilization: 2\n")
    code = main(["--gpu.backend=fake", f"--gpu.fake-scenario={path}", "--web.listen-address=127.0.0.1:0"], {})
    err = capsys.readouterr().err
    assert code == 2
    assert f"--gpu.fake-scenario: scenario {path}: gpus[0].utilization: must be a ratio from 0 to 1" in err

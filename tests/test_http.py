"""The HTTP front over real sockets: routes, isolation, health, concurrent scrapes."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

from tests.dummy_plugin import DummyPlugin
from tests.helpers import http_get, promtool_check_metrics, running_exporter, scrape, value


def test_metrics_landing_and_404() -> None:
    with running_exporter([], [DummyPlugin()]) as exporter:
        body = scrape(exporter)
        assert value(body, "mlobs_collector_success", collector="dummy") == 1
        assert value(body, "mlobs_build_info", gpu_backend="none") == 1
        status, _, page = http_get(f"http://127.0.0.1:{exporter.port}/")
        assert status == 200 and 'href="/metrics"' in page
        assert http_get(f"http://127.0.0.1:{exporter.port}/nope")[0] == 404
        assert promtool_check_metrics(body) == ""


def test_custom_telemetry_path() -> None:
    with running_exporter(["--web.telemetry-path=/probe"], [DummyPlugin()]) as exporter:
        assert value(scrape(exporter, "/probe"), "mlobs_collector_success", collector="dummy") == 1
        assert http_get(f"http://127.0.0.1:{exporter.port}/metrics")[0] == 404


def test_raising_collector_is_isolated_and_its_partial_output_dropped() -> None:
    plugins = [DummyPlugin("good"), DummyPlugin("bad")]
    with running_exporter(["--bad.mode=raise"], plugins) as exporter:
        body = scrape(exporter)
        assert value(body, "mlobs_collector_success", collector="bad") == 0
        assert value(body, "mlobs_collector_success", collector="good") == 1
        assert value(body, "mlobs_collector_duration_seconds", collector="bad") is not None
        assert value(body, "mlobs_collector_success", collector="partial-output-must-be-dropped") is None
        assert value(body, "dummy_value", source="good") == 0.5


def test_partial_collection_keeps_output_but_reports_failure() -> None:
    with running_exporter(["--dummy.mode=partial"], [DummyPlugin()]) as exporter:
        body = scrape(exporter)
        assert value(body, "mlobs_collector_success", collector="dummy") == 0
        assert value(body, "dummy_value", source="dummy") == 0.5


def test_health_reports_each_collector_and_fails_when_one_is_unhealthy() -> None:
    import json

    with running_exporter([], [DummyPlugin()]) as exporter:
        scrape(exporter)
        status, _, body = http_get(f"http://127.0.0.1:{exporter.port}/health")
        assert status == 200
        report = json.loads(body)
        assert report["collectors"]["dummy"]["last_scrape_success"] is True
    with running_exporter(["--dummy.mode=unhealthy"], [DummyPlugin()]) as exporter:
        status, _, body = http_get(f"http://127.0.0.1:{exporter.port}/health")
        assert status == 503 and json.loads(body)["status"] == "unhealthy"


def test_a_slow_scrape_does_not_block_health_or_other_scrapes() -> None:
    plugin = DummyPlugin()
    with running_exporter(["--dummy.mode=block"], [plugin]) as exporter:
        collector = plugin.built[0]
        url = f"http://127.0.0.1:{exporter.port}"
        with ThreadPoolExecutor(max_workers=2) as pool:
            slow = pool.submit(http_get, f"{url}/metrics")
            assert http_get(f"{url}/health", timeout=2)[0] == 200
            assert not slow.done()
            collector.release.set()
            assert slow.result()[0] == 200


def test_fifty_concurrent_scrapes_all_succeed() -> None:
    with running_exporter([], [DummyPlugin()]) as exporter:
        url = f"http://127.0.0.1:{exporter.port}/metrics"
        barrier = threading.Barrier(50)

        def scrape_together(_: int) -> int:
            barrier.wait()
            return http_get(url)[0]

        with ThreadPoolExecutor(max_workers=50) as pool:
            assert list(pool.map(scrape_together, range(50))) == [200] * 50


def test_stop_closes_collectors() -> None:
    plugin = DummyPlugin()
    with running_exporter([], [plugin]):
        pass
    assert plugin.built[0].closed


def test_prepare_runs_for_every_collector_before_any_collects() -> None:
    from exporter.catalogue.families import FamilySet
    from exporter.collectors.base import Health, IsolatingCollector

    events: list[str] = []

    class Recording:
        def __init__(self, name: str, fail_prepare: bool = False) -> None:
            self.name = name
            self.fail_prepare = fail_prepare

        def prepare(self) -> None:
            events.append(f"prepare {self.name}")
            if self.fail_prepare:
                raise RuntimeError("kubelet unreachable")

        def collect(self, out: FamilySet) -> bool:
            events.append(f"collect {self.name}")
            return True

        def health(self) -> Health:
            return Health(True)

        def close(self) -> None:
            pass

    labels = {"version": "0", "python_version": "3", "node": "n", "gpu_backend": "none"}
    root = IsolatingCollector([Recording("gpu"), Recording("attribution", fail_prepare=True)], labels)
    root.scrape()
    assert events == ["prepare gpu", "prepare attribution", "collect gpu", "collect attribution"]

"""A failing TF Serving never fails the scrape: it answers quickly, with the others' data and the failure."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from exporter.plugin import BuildContext
from exporter.tfserving.plugin import TFServingPlugin
from tests.fixtures_tfserving import SimFactory, two_models
from tests.helpers import promtool_check_metrics, running_exporter, scrape, value
from tests.test_tfserving_http import Reply, ScriptedPeer, ok


def _scrape_with(tmp_path: Path, targets: list[dict[str, object]], **options: object) -> str:
    """Scrape once through an exporter configured with these targets.

    A slow, stalled or hung target here holds its answer until the test ends (or for 60 s), past the
    scrape's own 10 s client timeout: a scrape that waited for it fails instead of answering.
    """
    config = tmp_path / "config.yaml"
    config.write_text(yaml.safe_dump({"tfserving": {"targets": targets, **options}}))
    with running_exporter(
        ["--collector.tfserving", f"--config.file={config}"], [TFServingPlugin()]
    ) as exporter:
        return scrape(exporter)


def _assert_failed_beside_healthy(body: str, bad: str, good: str, reason: str) -> None:
    assert value(body, "tfserving_target_scrape_success", target=bad) == 0
    assert value(body, "tfserving_target_errors_total", target=bad, reason=reason) == 1
    assert value(body, "tfserving_target_scrape_success", target=good) == 1
    assert value(body, "tfserving_requests_total", target=good, model="bert", status="OK") is not None
    assert value(body, "mlobs_collector_success", collector="tfserving") == 0
    assert promtool_check_metrics(body) == ""


@pytest.mark.parametrize(
    ("fault", "reason"),
    [("garbage", "no_request_data"), ("truncated", "truncated"), ("page_5xx", "http_status")],
)
def test_bad_metrics_page(make_sim: SimFactory, tmp_path: Path, fault: str, reason: str) -> None:
    good, bad = make_sim(), make_sim(fault=fault)
    body = _scrape_with(tmp_path, [{"url": good.url}, {"url": bad.url, "models": ["bert"]}])
    _assert_failed_beside_healthy(body, bad.url, good.url, reason)
    assert value(body, "tfserving_requests_total", target=bad.url) is None
    # The status API still answered: model state survives a broken page.
    assert value(body, "tfserving_model_available_versions", target=bad.url, model="bert") == 1


def test_target_down(make_sim: SimFactory, tmp_path: Path) -> None:
    good, dead = make_sim(), make_sim()
    dead.stop()
    body = _scrape_with(tmp_path, [{"url": good.url}, {"url": dead.url, "models": ["bert"]}])
    _assert_failed_beside_healthy(body, dead.url, good.url, "connection")
    assert value(body, "tfserving_target_last_success_timestamp_seconds", target=dead.url) is None


def test_slow_target_is_cut_at_its_timeout(make_sim: SimFactory, tmp_path: Path) -> None:
    good, slow = make_sim(), make_sim(delay=60)
    body = _scrape_with(tmp_path, [{"url": good.url}, {"url": slow.url, "models": ["bert"], "timeout": 0.3}])
    _assert_failed_beside_healthy(body, slow.url, good.url, "timeout")
    assert value(body, "tfserving_target_scrape_duration_seconds", target=slow.url) is not None


def test_page_read_before_a_hanging_status_call_is_kept(make_sim: SimFactory, tmp_path: Path) -> None:
    good = make_sim()
    server = ScriptedPeer([ok(two_models().page().encode()), Reply(then="hang")])
    try:
        body = _scrape_with(
            tmp_path, [{"url": good.url}, {"url": server.url, "models": ["bert"], "timeout": 0.3}]
        )
    finally:
        server.stop()
    _assert_failed_beside_healthy(body, server.url, good.url, "timeout")
    assert server.paths == ["/monitoring/prometheus/metrics", "/v1/models/bert"]
    assert value(body, "tfserving_requests_total", target=server.url, model="bert", status="OK") is not None


def test_body_stalling_after_the_headers_is_a_timeout(make_sim: SimFactory, tmp_path: Path) -> None:
    good, stalled = make_sim(), make_sim(fault="stall")
    body = _scrape_with(tmp_path, [{"url": good.url}, {"url": stalled.url, "timeout": 0.3}])
    _assert_failed_beside_healthy(body, stalled.url, good.url, "timeout")


def test_unknown_model_is_a_failure_with_zero_versions(make_sim: SimFactory, tmp_path: Path) -> None:
    good, sim = make_sim(), make_sim()
    body = _scrape_with(tmp_path, [{"url": good.url}, {"url": sim.url, "models": ["nope"]}])
    _assert_failed_beside_healthy(body, sim.url, good.url, "model_not_found")
    assert value(body, "tfserving_model_available_versions", target=sim.url, model="nope") == 0
    assert value(body, "tfserving_requests_total", target=sim.url, model="bert", status="OK") is not None


def test_status_api_5xx_keeps_page_data_without_version(make_sim: SimFactory, tmp_path: Path) -> None:
    good, sim = make_sim(), make_sim(fault="status_5xx")
    body = _scrape_with(tmp_path, [{"url": good.url}, {"url": sim.url}])
    _assert_failed_beside_healthy(body, sim.url, good.url, "http_status")
    assert (
        value(body, "tfserving_requests_total", target=sim.url, model="bert", status="OK", version="")
        is not None
    )
    assert value(body, "tfserving_model_available_versions", target=sim.url) is None


def test_huge_body_is_cut_at_the_cap(make_sim: SimFactory, tmp_path: Path) -> None:
    good, huge = make_sim(), make_sim(fault="huge", huge_bytes=256 * 1024 * 1024)
    body = _scrape_with(tmp_path, [{"url": good.url}, {"url": huge.url}], max_body_bytes=2 * 1024 * 1024)
    _assert_failed_beside_healthy(body, huge.url, good.url, "too_large")


def test_errors_accumulate_and_last_success_stays(make_sim: SimFactory) -> None:
    sim = make_sim()
    argv = ["--collector.tfserving", f"--tfserving.target={sim.url}"]
    ctx = BuildContext(node_name="n", environ={}, wall_clock=lambda: 1_750_000_000.0)
    with running_exporter(argv, [TFServingPlugin()], ctx=ctx) as exporter:
        first = scrape(exporter)
        succeeded_at = value(first, "tfserving_target_last_success_timestamp_seconds")
        assert succeeded_at == 1_750_000_000.0
        sim.fault = "garbage"
        scrape(exporter)
        body = scrape(exporter)
    assert value(body, "tfserving_target_errors_total", reason="no_request_data") == 2
    assert value(body, "tfserving_page_lines_dropped_total", reason="malformed") == 2 * 64
    assert value(body, "tfserving_target_errors_total", reason="timeout") == 0
    assert value(body, "tfserving_target_last_success_timestamp_seconds") == succeeded_at

"""Faults between the exporter and a real MLflow server, injected by a proxy: the scrape always answers,
MLflow shows as down with the last good data still served, the error is counted by kind, and the
collector recovers by itself once the fault is gone."""

from __future__ import annotations

from pathlib import Path

import pytest

from exporter.plugin import BuildContext
from tests.fixtures_mlflow import REGISTRY_ONLY, FaultProxy, mlflow_exporter
from tests.helpers import free_port, http_get, promtool_check_metrics, scrape, value

pytestmark = pytest.mark.slow


def errors(body: str, kind: str) -> float:
    found = value(body, "mlflow_request_errors_total", endpoint="registered-models/search", kind=kind)
    return found or 0.0


@pytest.mark.parametrize(
    ("mode", "status", "kind"),
    [
        ("reset", 0, "connection"),
        ("status", 500, "server_error"),
        ("status", 503, "server_error"),
        ("status", 401, "unauthorized"),
        ("status", 403, "forbidden"),
        ("malformed", 0, "malformed"),
        ("endless", 0, "pagination"),
    ],
)
def test_fault_marks_mlflow_down_serves_the_last_snapshot_and_recovers(
    fault_proxy: FaultProxy, tmp_path: Path, mode: str, status: int, kind: str
) -> None:
    with mlflow_exporter(tmp_path, fault_proxy.url, REGISTRY_ONLY) as (exporter, collector):
        good = scrape(exporter)
        assert value(good, "mlflow_up") == 1 and errors(good, kind) == 0
        fault_proxy.mode, fault_proxy.status = mode, status
        bad = scrape(exporter)
        assert value(bad, "mlflow_up") == 0
        assert value(bad, "mlobs_collector_success", collector="mlflow") == 0
        assert errors(bad, kind) == 1
        assert value(bad, "mlflow_model_alias_version", model="fraud-detector", alias="production") == 2
        assert promtool_check_metrics(bad) == ""
        status_code, _, health = http_get(f"http://127.0.0.1:{exporter.port}/health")
        assert status_code == 200 and kind in health
        fault_proxy.reset()
        recovered = scrape(exporter)
        assert value(recovered, "mlflow_up") == 1
        assert value(recovered, "mlobs_collector_success", collector="mlflow") == 1
        assert "mlflow up" in collector.health().detail


def test_a_server_that_is_not_there_still_gives_an_answering_scrape(tmp_path: Path) -> None:
    with mlflow_exporter(tmp_path, f"http://127.0.0.1:{free_port()}", REGISTRY_ONLY) as (exporter, collector):
        body = scrape(exporter)
        assert http_get(f"http://127.0.0.1:{exporter.port}/health")[0] == 200
        assert collector.health().detail.endswith("connection: [Errno 111] Connection refused")
    assert value(body, "mlflow_up") == 0
    assert errors(body, "connection") == 1
    assert value(body, "mlflow_registered_models") is None  # never read: nothing to serve, nothing made up
    assert value(body, "mlflow_snapshot_age_seconds", section="registry") is None
    assert promtool_check_metrics(body) == ""


def test_a_slow_server_times_out_by_kind(fault_proxy: FaultProxy, tmp_path: Path) -> None:
    fault_proxy.mode, fault_proxy.delay = "delay", 10
    with mlflow_exporter(tmp_path, fault_proxy.url, {**REGISTRY_ONLY, "request_timeout": "300ms"}) as (
        exporter,
        _,
    ):
        body = scrape(exporter)
        fault_proxy.reset()
    assert value(body, "mlflow_up") == 0
    assert errors(body, "timeout") == 1
    assert (
        value(body, "mlflow_request_duration_seconds_bucket", endpoint="registered-models/search", le="0.25")
        == 0
    )
    assert (
        value(body, "mlflow_request_duration_seconds_bucket", endpoint="registered-models/search", le="0.5")
        == 1
    )


def test_a_scrape_waits_for_a_slow_refresh_only_up_to_its_bound(
    fault_proxy: FaultProxy, tmp_path: Path
) -> None:
    config = {**REGISTRY_ONLY, "scrape_wait": "200ms"}
    with mlflow_exporter(tmp_path, fault_proxy.url, config) as (exporter, collector):
        scrape(exporter)
        assert collector.refresh.wait_idle(30)
        fault_proxy.mode, fault_proxy.delay = "delay", 10
        body = scrape(exporter)
        # Answered while the proxy still holds the refresh's request: the scrape did not wait it out.
        assert not collector.refresh.wait_idle(0)
        fault_proxy.reset()  # lets the held request through
        assert collector.refresh.wait_idle(30)
    assert value(body, "mlflow_up") == 1  # the previous refresh's verdict, with its data
    assert value(body, "mlflow_model_alias_version", model="fraud-detector", alias="production") == 2


def test_more_pages_than_the_cap_is_a_pagination_error(fault_proxy: FaultProxy, tmp_path: Path) -> None:
    config = {**REGISTRY_ONLY, "page_size": 1, "max_pages": 2}  # the seeded registry has 3 models
    with mlflow_exporter(tmp_path, fault_proxy.url, config) as (exporter, collector):
        body = scrape(exporter)
        assert "more than 2 pages" in collector.health().detail
    assert value(body, "mlflow_up") == 0
    assert errors(body, "pagination") == 1
    assert value(body, "mlflow_requests_total", endpoint="registered-models/search") == 2


def test_a_wedged_refresh_fails_health_until_it_ends(fault_proxy: FaultProxy, tmp_path: Path) -> None:
    now = [1000.0]
    ctx = BuildContext(node_name="", environ={}, clock=lambda: now[0])
    config = {**REGISTRY_ONLY, "scrape_wait": "100ms", "refresh_interval": "10s", "request_timeout": "60s"}
    fault_proxy.mode, fault_proxy.delay = "delay", 60
    with mlflow_exporter(tmp_path, fault_proxy.url, config, ctx=ctx) as (exporter, collector):
        scrape(exporter)  # starts a refresh that the proxy holds
        health = f"http://127.0.0.1:{exporter.port}/health"
        now[0] += 299  # stuck means in flight for over max(10 refresh intervals, 5 minutes)
        assert http_get(health)[0] == 200
        now[0] += 2
        status, _, body = http_get(health)
        assert status == 503 and "refresh in flight for 301s" in body
        fault_proxy.reset()
        assert collector.refresh.wait_idle(30)
        assert http_get(health)[0] == 200

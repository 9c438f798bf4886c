"""The MLflow collector against a real tracking server seeded with the real mlflow client."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from exporter.mlflow.rows import label_value
from exporter.plugin import BuildContext
from tests.fixtures_mlflow import HOUR, MlflowServer, Seeded, mlflow_exporter
from tests.helpers import promtool_check_metrics, samples, scrape, value

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def scraped_at(mlflow_seeded: Seeded) -> float:
    """The exporter's wall clock, stopped: ages and windows are exact, however long the module runs."""
    return time.time()


@pytest.fixture(scope="module")
def body(mlflow_server: MlflowServer, scraped_at: float, tmp_path_factory: pytest.TempPathFactory) -> str:
    """One scrape of the seeded server with the default settings plus baselines and training experiments."""
    ctx = BuildContext(node_name="", environ={}, wall_clock=lambda: scraped_at)
    with mlflow_exporter(tmp_path_factory.mktemp("exp"), mlflow_server.url, ctx=ctx) as (exporter, _):
        return scrape(exporter)


def test_scrape_is_up_and_promtool_clean(body: str) -> None:
    assert value(body, "mlflow_up") == 1
    assert value(body, "mlobs_collector_success", collector="mlflow") == 1
    assert promtool_check_metrics(body) == ""


def test_registry_counts_versions_by_status_including_failed_registrations(body: str) -> None:
    assert value(body, "mlflow_registered_models") == 3
    assert value(body, "mlflow_model_versions", model="fraud-detector", status="READY") == 3
    assert value(body, "mlflow_model_versions", model="churn", status="READY") == 1
    assert value(body, "mlflow_model_versions", model="churn", status="FAILED_REGISTRATION") == 1
    assert value(body, "mlflow_model_versions", model="churn", status="PENDING_REGISTRATION") is None
    assert value(body, "mlflow_model_versions", model="fraud-detector", status="FAILED_REGISTRATION") is None
    info = value(body, "mlflow_model_version_info", model="churn", version="2")
    assert info == 1
    assert (
        value(body, "mlflow_model_version_info", model="churn", version="2", status="FAILED_REGISTRATION")
        == 1
    )
    assert value(body, "mlflow_model_version_info", model="fraud-detector", version="3", stage="None") == 1


def test_aliases_come_from_the_registered_model_with_the_age_of_their_version(
    body: str, mlflow_seeded: Seeded, scraped_at: float
) -> None:
    assert value(body, "mlflow_model_alias_version", model="fraud-detector", alias="production") == 2
    assert value(body, "mlflow_model_alias_version", model="fraud-detector", alias="champion") == 3
    assert value(body, "mlflow_model_alias_version", model="churn", alias="production") == 1
    age = value(body, "mlflow_model_alias_version_age_seconds", model="fraud-detector", alias="production")
    assert age == pytest.approx(scraped_at - mlflow_seeded.fraud_versions_created[2], abs=1e-3)


def test_offline_baseline_is_the_metric_of_the_run_behind_each_alias(body: str) -> None:
    def baseline(model: str, alias: str, version: str) -> float | None:
        return value(
            body, "mlflow_model_offline_metric", model=model, alias=alias, version=version, metric="val_auc"
        )

    assert baseline("fraud-detector", "production", "2") == pytest.approx(0.91)
    assert baseline("fraud-detector", "champion", "3") == pytest.approx(0.93)
    assert baseline("churn", "production", "1") == pytest.approx(0.75)


@pytest.mark.parametrize(
    ("status", "day", "week"),
    [("FINISHED", 1, 2), ("FAILED", 1, 1), ("KILLED", 0, 1), ("RUNNING", 1, 1), ("SCHEDULED", 0, 0)],
)
def test_training_runs_by_status_in_each_window(body: str, status: str, day: int, week: int) -> None:
    labels = {"experiment": "train-fraud", "status": status}
    assert value(body, "mlflow_training_runs", window="1d", **labels) == day
    assert value(body, "mlflow_training_runs", window="7d", **labels) == week


def test_training_last_durations_and_last_success(body: str, mlflow_seeded: Seeded) -> None:
    def duration(status: str) -> float | None:
        return value(
            body, "mlflow_training_last_run_duration_seconds", experiment="train-fraud", status=status
        )

    assert duration("FINISHED") == pytest.approx(HOUR, abs=0.01)
    assert duration("FAILED") == pytest.approx(0.5 * HOUR, abs=0.01)
    assert duration("KILLED") == pytest.approx(600, abs=0.01)
    last = value(body, "mlflow_training_last_success_timestamp_seconds", experiment="train-fraud")
    assert last == pytest.approx(mlflow_seeded.last_success_end, abs=0.001)
    assert value(body, "mlflow_training_last_success_timestamp_seconds", experiment="train-churn") == 0
    assert value(body, "mlflow_training_runs", experiment="train-churn", status="FAILED", window="1d") == 1


def test_monitoring_exports_latest_drift_per_feature_with_its_timestamp(
    body: str, mlflow_seeded: Seeded
) -> None:
    def drift(metric: str, feature: str = "") -> tuple[float | None, float | None]:
        labels = {"model": "fraud-detector", "version": "2", "metric": metric, "feature": feature}
        return value(body, "mlflow_model_drift", **labels), value(
            body, "mlflow_model_drift_timestamp_seconds", **labels
        )

    two_hours_ago = mlflow_seeded.now - 2 * HOUR
    # The newer run's psi (0.12) wins over the older run's (0.02).
    assert drift("psi") == (pytest.approx(0.12), pytest.approx(two_hours_ago, abs=0.001))
    assert drift("psi", "age")[0] == pytest.approx(0.31)
    assert drift("psi", "income")[0] == pytest.approx(0.05)
    assert drift("share_drifted_features")[0] == pytest.approx(0.5)
    tenure = {"model": "churn", "version": "1", "metric": "p_value", "feature": "tenure"}
    assert value(body, "mlflow_model_drift", **tenure) == pytest.approx(0.01)


def test_monitoring_exports_latest_quality_and_ignores_other_keys_and_untagged_runs(
    body: str, mlflow_seeded: Seeded
) -> None:
    labels = {"model": "fraud-detector", "version": "2", "metric": "accuracy"}
    assert value(body, "mlflow_model_quality", **labels) == pytest.approx(0.87)
    logged = value(body, "mlflow_model_quality_timestamp_seconds", **labels)
    assert logged == pytest.approx(mlflow_seeded.now - HOUR, abs=0.001)
    assert value(body, "mlflow_model_quality", model="churn", version="1", metric="auc") == pytest.approx(0.7)
    names = {name for name, labels in samples(body) if "latency_ms" in dict(labels).values()}
    assert names == set()
    assert value(body, "mlflow_model_drift", metric="psi", feature="", version="2") == pytest.approx(0.12)
    assert 9.0 not in {v for (n, _), v in samples(body).items() if n == "mlflow_model_drift"}
    assert (
        value(body, "mlflow_monitoring_runs_read") == 3
    )  # the server's tag filter left out the untagged run


def test_long_label_values_are_cut_with_a_hash_suffix(body: str, mlflow_seeded: Seeded) -> None:
    cut = label_value(mlflow_seeded.long_model_name)
    assert len(cut) == 128 and cut.endswith("~" + cut[-8:]) and cut.startswith("segment-xxx")
    assert value(body, "mlflow_model_versions", model=cut, status="READY") == 1


def test_request_accounting_for_the_sli(body: str) -> None:
    requests_made = value(body, "mlflow_requests_total", endpoint="registered-models/search")
    assert requests_made is not None and requests_made >= 1
    count = value(body, "mlflow_request_duration_seconds_count", endpoint="registered-models/search")
    assert count == requests_made
    assert (
        value(body, "mlflow_request_errors_total", endpoint="registered-models/search", kind="server_error")
        == 0
    )
    assert value(body, "mlflow_snapshot_age_seconds", section="registry") is not None


def test_caps_limit_series_and_count_what_was_dropped(
    mlflow_server: MlflowServer, mlflow_seeded: Seeded, tmp_path: Path
) -> None:
    config = {
        "registry": {"max_models": 2, "max_versions_per_model": 1, "baseline_metrics": ["val_auc"]},
        "monitoring": {"max_series": 3},
    }
    with mlflow_exporter(tmp_path, mlflow_server.url, config) as (exporter, _):
        body = scrape(exporter)
    assert value(body, "mlflow_registered_models") == 3  # the total is not capped, the series are
    assert (
        value(body, "mlflow_model_versions", model=label_value(mlflow_seeded.long_model_name), status="READY")
        is None
    )
    assert value(body, "mlflow_dropped_total", what="models") == 1
    assert value(body, "mlflow_dropped_total", what="versions") == 2 + 1
    info = [key for key in samples(body) if key[0] == "mlflow_model_version_info"]
    assert len(info) == 2
    drift_and_quality = [k for k in samples(body) if k[0] in ("mlflow_model_drift", "mlflow_model_quality")]
    assert len(drift_and_quality) == 3
    # fraud v2: psi, psi.age, psi.income, share_drifted_features, accuracy; churn v1: auc, p_value.tenure
    assert value(body, "mlflow_dropped_total", what="monitored_series") == 7 - 3


def test_snapshot_is_served_between_refreshes_without_new_requests(
    mlflow_server: MlflowServer, mlflow_seeded: Seeded, tmp_path: Path
) -> None:
    with mlflow_exporter(tmp_path, mlflow_server.url, {"refresh_interval": "1h"}) as (exporter, _):
        first = scrape(exporter)
        second = scrape(exporter)
    total = sum(v for (n, _), v in samples(first).items() if n == "mlflow_requests_total")
    assert total == sum(v for (n, _), v in samples(second).items() if n == "mlflow_requests_total")
    assert value(second, "mlflow_model_alias_version", model="fraud-detector", alias="production") == 2
    assert value(second, "mlflow_snapshot_age_seconds", section="registry") >= value(
        first, "mlflow_snapshot_age_seconds", section="registry"
    )


def test_a_missing_training_experiment_is_a_partial_failure(
    mlflow_server: MlflowServer, mlflow_seeded: Seeded, tmp_path: Path
) -> None:
    config = {"training": {"experiments": ["train-fraud", "no-such-experiment"]}}
    with mlflow_exporter(tmp_path, mlflow_server.url, config) as (exporter, collector):
        body = scrape(exporter)
        assert "no-such-experiment" in collector.health().detail
    assert value(body, "mlflow_up") == 1
    assert value(body, "mlobs_collector_success", collector="mlflow") == 0
    assert (
        value(body, "mlflow_request_errors_total", endpoint="experiments/get-by-name", kind="not_found") == 1
    )
    assert value(body, "mlflow_training_runs", experiment="train-fraud", status="FINISHED", window="7d") == 2


def test_windows_are_configurable(mlflow_server: MlflowServer, mlflow_seeded: Seeded, tmp_path: Path) -> None:
    config = {"training": {"experiments": ["train-fraud"], "windows": ["4h", "30d"]}}
    with mlflow_exporter(tmp_path, mlflow_server.url, config) as (exporter, _):
        body = scrape(exporter)
    assert value(body, "mlflow_training_runs", experiment="train-fraud", status="FINISHED", window="4h") == 1
    assert value(body, "mlflow_training_runs", experiment="train-fraud", status="FINISHED", window="30d") == 3
    assert value(body, "mlflow_training_runs", experiment="train-fraud", status="FAILED", window="4h") == 0


def test_experiments_by_filter_and_monitoring_experiments_by_name(
    mlflow_server: MlflowServer, mlflow_seeded: Seeded, tmp_path: Path
) -> None:
    config = {
        "training": {"experiment_filter": "name LIKE 'train-%'"},
        "monitoring": {"experiments": ["monitoring"]},
    }
    with mlflow_exporter(tmp_path, mlflow_server.url, config) as (exporter, _):
        body = scrape(exporter)
    assert value(body, "mlflow_up") == 1
    assert value(body, "mlflow_training_runs", experiment="train-fraud", status="FINISHED", window="7d") == 2
    assert value(body, "mlflow_training_runs", experiment="train-churn", status="FAILED", window="7d") == 1
    assert value(body, "mlflow_training_runs", experiment="monitoring", status="RUNNING", window="7d") is None
    assert value(body, "mlflow_model_quality", model="churn", version="1", metric="auc") == pytest.approx(0.7)

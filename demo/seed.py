"""The demo's MLflow dataset: the models TF Serving serves, registered with a `production` alias, their
training history, and monitoring runs logging drift and quality where the exporter reads them."""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from demo.mlflow_server import DAY, HOUR, Writer

MONITORING_EXPERIMENT = "monitoring"
BUILDS_EXPERIMENT = "model-builds"
MODEL_NAME_TAG, MODEL_VERSION_TAG = "mlobs.model_name", "mlobs.model_version"
FEATURES = ("age", "income", "tenure")


def healthy_drift(thresholds: Mapping[str, Mapping[str, Any]]) -> dict[str, float]:
    """Every configured drift metric well on the good side of its warning threshold, no drifted features."""
    values = {"share_drifted_features": 0.0}
    for metric, limits in thresholds.items():
        warning = float(limits["warning"])
        values[metric] = warning / 3 if limits["direction"] == "higher_is_worse" else min(1.0, warning * 10)
    return values


@dataclass(frozen=True)
class RegisteredModel:
    """A registry model: how many versions, which one is in production, its offline metrics."""

    name: str
    versions: int
    production: int
    training_experiment: str
    baseline: Mapping[str, float]


def training_history(write: Writer, experiment: str, now: float, failed: Sequence[int]) -> None:
    """A run every 8 hours over the last 3 days; the runs numbered in `failed` FAILED, the rest FINISHED."""
    for n in range(9):
        start = now - 3 * DAY + n * 8 * HOUR
        write.run(experiment, start, start + HOUR, "FAILED" if n in failed else "FINISHED")


def register(write: Writer, model: RegisteredModel, now: float) -> None:
    write.client.create_registered_model(model.name)
    for _number in range(1, model.versions + 1):
        build = write.run(BUILDS_EXPERIMENT, now - DAY, now - DAY + 60, "FINISHED")
        write.metrics(build, now - DAY + 30, model.baseline)
        write.version(model.name, build)
    write.client.set_registered_model_alias(model.name, "production", str(model.production))


def log_monitoring(
    write: Writer,
    model: str,
    version: int,
    at: float,
    drift: Mapping[str, float],
    quality: Mapping[str, float],
) -> str:
    """A monitoring run of one model version: drift per dataset and per feature, and quality metrics."""
    tags = {MODEL_NAME_TAG: model, MODEL_VERSION_TAG: str(version)}
    run = write.run(MONITORING_EXPERIMENT, at - 60, at, "FINISHED", **tags)
    values = dict(quality)
    for metric, value in drift.items():
        values[metric] = value
        if metric != "share_drifted_features":
            values.update({f"{metric}.{feature}": value for feature in FEATURES})
    write.metrics(run, at, values)
    return run


def seed(
    write: Writer, models: Sequence[RegisteredModel], drift: Mapping[str, float], now: float | None = None
) -> None:
    now = time.time() if now is None else now
    for i, model in enumerate(models):
        training_history(write, model.training_experiment, now, failed=(2 + i,))
        register(write, model, now)
        for at in (now - 2 * HOUR, now - 60):
            log_monitoring(write, model.name, model.production, at, drift, model.baseline)

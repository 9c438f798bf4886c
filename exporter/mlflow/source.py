"""Read MLflow's registry and runs into plain typed data (no metric knowledge here).

Shapes follow the REST API: epoch-millisecond timestamps, string versions and ids, `{}` for an empty
result, unknown fields ignored. Aliases come from the registered model, never from its versions
(empty on SQL stores: mlflow#9783).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from exporter.mlflow.http import MlflowError, MlflowHttp
from exporter.mlflow.typed_json import Obj

RUN_STATUSES = ("RUNNING", "SCHEDULED", "FINISHED", "FAILED", "KILLED")
TERMINAL_STATUSES = ("FINISHED", "FAILED", "KILLED")


@dataclass(frozen=True)
class ModelVersion:
    model: str
    version: int
    status: str
    stage: str
    created: float  # epoch seconds
    run_id: str


@dataclass(frozen=True)
class RegisteredModel:
    name: str
    aliases: tuple[tuple[str, int], ...]  # (alias, version)


@dataclass(frozen=True)
class Registry:
    models: tuple[RegisteredModel, ...]
    versions: tuple[ModelVersion, ...]


@dataclass(frozen=True)
class Experiment:
    id: str
    name: str


@dataclass(frozen=True)
class Run:
    run_id: str
    experiment_id: str
    status: str
    start: float  # epoch seconds
    end: float | None
    # Latest value of each metric as the server reports it: key -> (value, logged at, epoch seconds).
    metrics: Mapping[str, tuple[float, float]] = field(default_factory=dict)
    tags: Mapping[str, str] = field(default_factory=dict)


def parse_model(item: Obj) -> RegisteredModel:
    aliases = [(alias.text("alias"), alias.version("version")) for alias in item.objects("aliases")]
    return RegisteredModel(item.text("name"), tuple(sorted(aliases)))


def parse_version(item: Obj) -> ModelVersion:
    return ModelVersion(
        model=item.text("name"),
        version=item.version("version"),
        status=item.text("status", "READY") or "READY",
        stage=item.text("current_stage", "None") or "None",
        created=item.seconds("creation_timestamp", 0),
        run_id=item.text("run_id", ""),
    )


# How proto-JSON writes the doubles JSON has no number for; such a value is skipped, not fatal for the run.
_UNENCODABLE = ("NaN", "Infinity", "-Infinity")


def _metrics(data: Obj) -> dict[str, tuple[float, float]]:
    metrics: dict[str, tuple[float, float]] = {}
    for metric in data.objects("metrics"):
        key = metric.text("key")
        if metric.data.get("value") in _UNENCODABLE:
            continue
        metrics[key] = (metric.number("value", finite=False), metric.seconds("timestamp", 0))
    return metrics


def parse_run(item: Obj) -> Run:
    info, data = item.obj("info"), item.optional_obj("data")
    end = info.seconds("end_time", 0)  # 0 or absent while the run is in flight
    return Run(
        run_id=info.text("run_id", "") or info.text("run_uuid", ""),
        experiment_id=info.text("experiment_id", ""),
        status=info.text("status", "RUNNING") or "RUNNING",
        start=info.seconds("start_time", 0),
        end=end or None,
        metrics=_metrics(data),
        tags={tag.text("key"): tag.text("value", "") for tag in data.objects("tags")},
    )


def parse_experiment(item: Obj) -> Experiment:
    return Experiment(item.text("experiment_id"), item.text("name"))


def quote(value: str) -> str:
    """A string literal in MLflow's search filter grammar."""
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"


class MlflowSource:
    """The queries the collector needs, each following pagination to the end (or to a stated limit)."""

    def __init__(self, http: MlflowHttp) -> None:
        self.http = http

    def registry(self) -> Registry:
        pages = self.http.pages
        models = tuple(pages("GET", "registered-models/search", "registered_models", {}, parse_model))
        # One listing of every version beats one search per model: 2 requests for 200 models x 10 versions.
        versions = tuple(pages("GET", "model-versions/search", "model_versions", {}, parse_version))
        return Registry(models, versions)

    def experiment_by_name(self, name: str) -> Experiment | None:
        """None when no such experiment exists (the caller reports it; the request counts as not_found)."""
        try:
            return self.http.get(
                "experiments/get-by-name",
                {"experiment_name": name},
                lambda body: parse_experiment(body.obj("experiment")),
            )
        except MlflowError as exc:
            if exc.kind == "not_found":
                return None
            raise

    def search_experiments(self, filter_string: str = "") -> list[Experiment]:
        query = {"filter": filter_string} if filter_string else {}
        return list(self.http.pages("POST", "experiments/search", "experiments", query, parse_experiment))

    def search_runs(
        self,
        experiment_ids: Sequence[str],
        filter_string: str = "",
        order_by: Iterable[str] = (),
        limit: int | None = None,
    ) -> list[Run]:
        if not experiment_ids:
            return []
        query: dict[str, Any] = {"experiment_ids": list(experiment_ids), "filter": filter_string}
        if order_by:
            query["order_by"] = list(order_by)
        return list(self.http.pages("POST", "runs/search", "runs", query, parse_run, limit=limit))

    def run(self, run_id: str) -> Run | None:
        """None when the run was deleted (a version may outlive its training run)."""
        try:
            return self.http.get("runs/get", {"run_id": run_id}, lambda body: parse_run(body.obj("run")))
        except MlflowError as exc:
            if exc.kind == "not_found":
                return None
            raise

"""Read MLflow's registry and runs into plain typed data (no metric knowledge here).

Shapes follow the REST API: epoch-millisecond timestamps, string versions and ids, `{}` for an empty
result, unknown fields ignored. Aliases come from the registered model, never from its versions
(empty on SQL stores: mlflow#9783).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from exporter.sources.mlflow_http import MlflowError, MlflowHttp

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


def _malformed(endpoint: str, what: str) -> MlflowError:
    return MlflowError("malformed", endpoint, what)


def _seconds(value: Any, endpoint: str, what: str) -> float:
    """Epoch milliseconds (a number, or a string from older proto-JSON encoders) to seconds."""
    try:
        return float(value) / 1000.0
    except (TypeError, ValueError):
        raise _malformed(endpoint, f"{what} is not a timestamp: {value!r}") from None


def _text(item: Mapping[str, Any], key: str, endpoint: str) -> str:
    value = item.get(key)
    if not isinstance(value, str) or not value:
        raise _malformed(endpoint, f"missing {key}")
    return value


def _version_number(value: Any, endpoint: str) -> int:
    try:
        return int(value)
    except (TypeError, ValueError):
        raise _malformed(endpoint, f"version {value!r} is not a number") from None


def parse_model(item: Mapping[str, Any], endpoint: str = "registered-models/search") -> RegisteredModel:
    aliases = []
    for alias in item.get("aliases") or []:
        if isinstance(alias, dict) and alias.get("alias"):
            aliases.append((str(alias["alias"]), _version_number(alias.get("version"), endpoint)))
    return RegisteredModel(_text(item, "name", endpoint), tuple(sorted(aliases)))


def parse_version(item: Mapping[str, Any], endpoint: str = "model-versions/search") -> ModelVersion:
    return ModelVersion(
        model=_text(item, "name", endpoint),
        version=_version_number(item.get("version"), endpoint),
        status=str(item.get("status") or "READY"),
        stage=str(item.get("current_stage") or "None"),
        created=_seconds(item.get("creation_timestamp", 0), endpoint, "creation_timestamp"),
        run_id=str(item.get("run_id") or ""),
    )


def parse_run(item: Mapping[str, Any], endpoint: str = "runs/search") -> Run:
    info = item.get("info")
    data = item.get("data") or {}
    if not isinstance(info, dict) or not isinstance(data, dict):
        raise _malformed(endpoint, "run without info")
    metrics: dict[str, tuple[float, float]] = {}
    for metric in data.get("metrics") or []:
        # A value the server could not encode as a number is skipped, not fatal for the whole run.
        if isinstance(metric, dict) and isinstance(metric.get("key"), str):
            value = metric.get("value")
            if isinstance(value, int | float) and not isinstance(value, bool):
                metrics[metric["key"]] = (
                    float(value),
                    _seconds(metric.get("timestamp", 0), endpoint, "timestamp"),
                )
    tags = {
        str(tag["key"]): str(tag.get("value", ""))
        for tag in data.get("tags") or []
        if isinstance(tag, dict) and "key" in tag
    }
    end = info.get("end_time")
    return Run(
        run_id=str(info.get("run_id") or info.get("run_uuid") or ""),
        experiment_id=str(info.get("experiment_id", "")),
        status=str(info.get("status") or "RUNNING"),
        start=_seconds(info.get("start_time", 0), endpoint, "start_time"),
        end=None if end in (None, 0, "0") else _seconds(end, endpoint, "end_time"),
        metrics=metrics,
        tags=tags,
    )


def quote(value: str) -> str:
    """A string literal in MLflow's search filter grammar."""
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"


class MlflowSource:
    """The queries the collector needs, each following pagination to the end (or to a stated limit)."""

    def __init__(self, http: MlflowHttp) -> None:
        self.http = http

    def registry(self) -> Registry:
        models = [
            parse_model(m)
            for m in self.http.pages("GET", "registered-models/search", "registered_models", {})
        ]
        # One listing of every version beats one search per model: 2 requests for 200 models x 10 versions.
        versions = [
            parse_version(v) for v in self.http.pages("GET", "model-versions/search", "model_versions", {})
        ]
        return Registry(tuple(models), tuple(versions))

    def experiment_by_name(self, name: str) -> Experiment | None:
        """None when no such experiment exists (the caller reports it; the request counts as not_found)."""
        endpoint = "experiments/get-by-name"
        try:
            found = self.http.get(endpoint, {"experiment_name": name}).get("experiment")
        except MlflowError as exc:
            if exc.kind == "not_found":
                return None
            raise
        if not isinstance(found, dict):
            raise _malformed(endpoint, "no experiment in the answer")
        return Experiment(_text(found, "experiment_id", endpoint), _text(found, "name", endpoint))

    def search_experiments(self, filter_string: str = "") -> list[Experiment]:
        endpoint = "experiments/search"
        query = {"filter": filter_string} if filter_string else {}
        return [
            Experiment(_text(e, "experiment_id", endpoint), _text(e, "name", endpoint))
            for e in self.http.pages("POST", endpoint, "experiments", query)
        ]

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
        return [parse_run(r) for r in self.http.pages("POST", "runs/search", "runs", query, limit=limit)]

    def run(self, run_id: str) -> Run | None:
        """None when the run was deleted (a version may outlive its training run)."""
        try:
            found = self.http.get("runs/get", {"run_id": run_id}).get("run")
        except MlflowError as exc:
            if exc.kind == "not_found":
                return None
            raise
        if not isinstance(found, dict):
            raise _malformed("runs/get", "no run in the answer")
        return parse_run(found, "runs/get")

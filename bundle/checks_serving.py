"""Checks of the serving, slo and models sections (beyond their types), called by `bundle.schema.check`."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from bundle.checks import DNS_LABEL, Checks
from bundle.latency_bounds import bucket_le, describe, neighbours
from bundle.sections import Models, Serving, Slo

# TF status code names (tensorflow/core/protobuf/error_codes.proto), as tfserving_requests_total's status.
TF_CODES = (
    "OK",
    "CANCELLED",
    "UNKNOWN",
    "INVALID_ARGUMENT",
    "DEADLINE_EXCEEDED",
    "NOT_FOUND",
    "ALREADY_EXISTS",
    "PERMISSION_DENIED",
    "RESOURCE_EXHAUSTED",
    "FAILED_PRECONDITION",
    "ABORTED",
    "OUT_OF_RANGE",
    "UNIMPLEMENTED",
    "INTERNAL",
    "UNAVAILABLE",
    "DATA_LOSS",
    "UNAUTHENTICATED",
)
# Keys a model may override: thresholds only. Durations (`for`) and windows stay per group, so one rule per
# distinct value suffices.
SERVING_OVERRIDES = (
    "min_request_rate",
    "latency_p95_target_seconds",
    "error_ratio_warning",
    "traffic_drop_ratio",
)
SLO_OVERRIDES = ("availability_objective", "latency_objective", "latency_threshold_seconds")
# Sections whose keys the other alert areas check (drift, quality).
OTHER_OVERRIDES = ("drift", "quality")
SLO_PERIODS = ("28d", "30d", "4w")


def check_serving(c: Checks, serving: Serving, slo: Slo, models: Models, scrape_interval: float) -> None:
    """Every problem of the serving, slo and models sections, each named by its key."""
    _serving_values(c, "serving", vars(serving))
    c.require(bool(DNS_LABEL.match(serving.job)), "serving.job", f"must be a DNS label, got {serving.job!r}")
    window = c.duration("serving.rate_window", serving.rate_window)
    c.require(window >= 4 * scrape_interval, "serving.rate_window", "must span at least 4 scrape intervals")
    for key in (
        "latency_for",
        "error_ratio_for",
        "traffic_drop_offset",
        "traffic_drop_for",
        "no_available_version_for",
        "load_failed_for",
        "target_down_for",
        "registry_rollout_window",
    ):
        c.duration(f"serving.{key}", getattr(serving, key))
    unknown = [code for code in serving.client_error_codes if code not in TF_CODES or code == "OK"]
    c.require(
        not unknown, "serving.client_error_codes", f"must be non-OK TF status code names, unknown {unknown}"
    )
    c.require(bool(serving.registry_alias.strip()), "serving.registry_alias", "must not be empty")
    names = serving.model_names
    ok = all(isinstance(k, str) and isinstance(v, str) and k and v for k, v in names.items())
    c.require(ok, "serving.model_names", "must map MLflow model names to TF Serving model names (strings)")
    chained = sorted(set(names) & set(names.values()) - {k for k, v in names.items() if k == v})
    c.require(
        not chained, "serving.model_names", f"must not chain renames (both a source and a target: {chained})"
    )
    c.require(
        slo.period in SLO_PERIODS,
        "slo.period",
        f"must be one of {', '.join(SLO_PERIODS)}, got {slo.period!r}",
    )
    _slo_values(c, "slo", vars(slo))
    _overrides(c, models.overrides)


def _serving_values(c: Checks, where: str, values: Mapping[str, Any]) -> None:
    """The overridable serving thresholds present in `values`."""
    if "min_request_rate" in values:
        rate = values["min_request_rate"]
        c.require(_number(rate) and rate >= 0, f"{where}.min_request_rate", f"must be >= 0, got {rate!r}")
    if "latency_p95_target_seconds" in values:
        target = values["latency_p95_target_seconds"]
        ok = _number(target) and target > 0
        c.require(ok, f"{where}.latency_p95_target_seconds", f"must be a positive number, got {target!r}")
    for key in ("error_ratio_warning", "traffic_drop_ratio"):
        if key in values:
            value = values[key]
            c.require(_number(value) and 0 < value < 1, f"{where}.{key}", f"must be in (0, 1), got {value!r}")


def _slo_values(c: Checks, where: str, values: Mapping[str, Any]) -> None:
    """The overridable SLO values present in `values`."""
    for key in ("availability_objective", "latency_objective"):
        if key in values:
            value = values[key]
            c.require(
                _number(value) and 0 < value < 1,
                f"{where}.{key}",
                f"must be an objective in (0, 1), got {value!r}",
            )
    if "latency_threshold_seconds" in values:
        threshold = values["latency_threshold_seconds"]
        if not _number(threshold):
            c.require(False, f"{where}.latency_threshold_seconds", f"must be a number, got {threshold!r}")
        elif bucket_le(threshold) is None:
            below, above = neighbours(threshold)
            nearest = " and ".join(f"{b:g} ({describe(b)})" for b in (below, above) if b is not None)
            c.require(
                False,
                f"{where}.latency_threshold_seconds",
                f"{threshold!r} is not a TF Serving latency bucket bound (10 us x 1.8^n, as the exporter "
                f"prints them); the nearest are {nearest}",
            )


def _overrides(c: Checks, overrides: Mapping[str, Any]) -> None:
    for model, override in overrides.items():
        where = f"models.overrides.{model}"
        if not isinstance(model, str) or not model or not isinstance(override, Mapping):
            c.require(False, where, "must map a TF Serving model name to a mapping of sections")
            continue
        for section, values in override.items():
            allowed = {"serving": SERVING_OVERRIDES, "slo": SLO_OVERRIDES}.get(section)
            if section in OTHER_OVERRIDES:
                continue
            if allowed is None or not isinstance(values, Mapping):
                sections = ", ".join(("serving", "slo", *OTHER_OVERRIDES))
                c.require(False, f"{where}.{section}", f"must be one of {sections}, a mapping")
                continue
            extra = sorted(set(values) - set(allowed))
            c.require(
                not extra,
                f"{where}.{section}",
                f"{extra} cannot be overridden per model ({', '.join(allowed)} can)",
            )
            check = _serving_values if section == "serving" else _slo_values
            check(c, f"{where}.{section}", values)


def _number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)

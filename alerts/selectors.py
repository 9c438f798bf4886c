"""Selectors shared by the model, training, registry and exporter rules: the cluster job's series, and the
split of a per-model table into the models with an override and the rest."""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from typing import Any

from bundle.overrides import Section, metrics_for, overridden_models
from bundle.promql import Metrics
from bundle.schema import BundleConfig

_REGEX_META = re.compile(r"([\\.+*?()|\[\]{}^$])")


def cluster_metrics(cfg: BundleConfig) -> Metrics:
    """Selectors of the cluster Deployment's series (MLflow)."""
    return Metrics(cfg.naming.job_label, cfg.exporter.cluster_job, frozenset({cfg.naming.job_label}))


def literal(value: str) -> str:
    """`value` as an RE2 pattern matching only itself."""
    return _REGEX_META.sub(r"\\\1", value)


def restrict(selector: str, label: str, values: tuple[str, ...], *, exclude: bool = False) -> str:
    """`selector` with `label` limited to (or, `exclude`, kept off) `values`; none given: unchanged."""
    if not values:
        return selector
    pattern = "|".join(literal(v) for v in values).replace("\\", "\\\\")
    return f'{selector[:-1]}, {label}{"!~" if exclude else "=~"}"{pattern}"}}'


def per_model(
    cfg: BundleConfig, section: Section, defaults: Mapping[str, Mapping[str, Any]]
) -> Iterator[tuple[tuple[str, ...], Mapping[str, Mapping[str, Any]], bool]]:
    """(models, metric table, exclude) pairs covering every model once: the models without an override of
    `section` judged by the defaults, then each overridden model by its own table."""
    models = overridden_models(cfg.models.overrides, section)
    yield models, defaults, True
    for model in models:
        yield (model,), metrics_for(defaults, cfg.models.overrides, section, model), False

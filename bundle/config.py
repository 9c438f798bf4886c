"""Load the bundle config: packaged defaults deep-merged with a user's partial override file."""

from __future__ import annotations

import copy
from importlib import resources
from pathlib import Path
from typing import Any

import yaml

# Mappings whose keys are the user's to choose (label sets, selectors, resources): an override replaces them
# whole instead of being checked key by key against the defaults.
FREE_FORM = frozenset(
    {
        "naming.selector_labels",
        "exporter.gpu_node_selector",
        "exporter.gpu_resources",
        "exporter.cluster_resources",
        "dashboards.configmap_labels",
        "serving.model_names",
        "models.overrides",
        "drift.metrics",
        "quality.metrics",
        "training.experiments",
        "experiments.definitions",
    }
)


class BundleConfigError(Exception):
    pass


def defaults() -> dict[str, Any]:
    text = resources.files("bundle").joinpath("bundle.yaml").read_text(encoding="utf-8")
    data = yaml.safe_load(text)
    assert isinstance(data, dict)
    return data


def _type_mismatch(default: Any, value: Any) -> bool:
    if isinstance(default, bool) or isinstance(value, bool):
        return isinstance(default, bool) != isinstance(value, bool)
    if isinstance(default, int | float):
        return not isinstance(value, int | float)
    return isinstance(default, str | list) and not isinstance(value, type(default))


def _merge(base: dict[str, Any], override: dict[str, Any], path: str, problems: list[str]) -> dict[str, Any]:
    merged = copy.deepcopy(base)
    for key, value in override.items():
        where = f"{path}.{key}" if path else str(key)
        if key not in base:
            problems.append(f"{where}: unknown key")
        elif isinstance(base[key], dict):
            if not isinstance(value, dict):
                problems.append(f"{where}: must be a mapping")
            elif where in FREE_FORM:
                merged[key] = copy.deepcopy(value)
            else:
                merged[key] = _merge(base[key], value, where, problems)
        elif _type_mismatch(base[key], value):
            problems.append(f"{where}: must be {type(base[key]).__name__}, got {value!r}")
        else:
            merged[key] = value
    return merged


def load(path: str | Path | None = None) -> dict[str, Any]:
    """The effective bundle config; raises BundleConfigError listing every problem in the override."""
    base = defaults()
    if path is None:
        return base
    try:
        override = yaml.safe_load(Path(path).read_text(encoding="utf-8")) or {}
    except OSError as exc:
        raise BundleConfigError(f"{path}: cannot read: {exc.strerror}") from None
    except yaml.YAMLError:
        raise BundleConfigError(f"{path}: not valid YAML") from None
    if not isinstance(override, dict):
        raise BundleConfigError(f"{path}: must be a mapping")
    problems: list[str] = []
    merged = _merge(base, override, "", problems)
    if problems:
        raise BundleConfigError(f"{path}: " + "; ".join(problems))
    return merged

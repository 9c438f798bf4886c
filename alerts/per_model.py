"""Per-model overrides (models.overrides) turned into rule scopes, and groups kept within the rule limit.

A threshold a model overrides gets its own rule, scoped to the models sharing that value; the default rule
excludes every overridden model. Each rule then names its own threshold in its description, and a site's
override yields rules as exact as the defaults' (no per-model constant series to keep in step).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from alerts.lint import MAX_RULES
from alerts.model import Group, Rule
from bundle.promql import Re
from bundle.schema import BundleConfig

Scope = dict[str, str | Re]


def _per_model(
    cfg: BundleConfig, keys: tuple[tuple[str, str], ...]
) -> tuple[tuple[Any, ...], dict[str, Any]]:
    default = tuple(getattr(getattr(cfg, section), key) for section, key in keys)
    per_model: dict[str, tuple[Any, ...]] = {}
    for model, override in sorted(cfg.models.overrides.items()):
        values = tuple(
            override.get(section, {}).get(key, value)
            for (section, key), value in zip(keys, default, strict=True)
        )
        if values != default:
            per_model[model] = values
    return default, per_model


def scoped_models(cfg: BundleConfig, *keys: tuple[str, str]) -> list[tuple[list[str], tuple[Any, ...]]]:
    """(overridden models, values of `keys`) per distinct combination, default first (with no models)."""
    default, per_model = _per_model(cfg, keys)
    out: list[tuple[list[str], tuple[Any, ...]]] = [([], default)]
    for values in dict.fromkeys(per_model.values()):
        out.append((sorted(model for model, v in per_model.items() if v == values), values))
    return out


def scopes(cfg: BundleConfig, *keys: tuple[str, str]) -> list[tuple[Scope, tuple[Any, ...]]]:
    """(model matchers, values of `keys`) per distinct combination of (section, key) values, default first.

    The default scope is `{}` without overrides, else `model!~"overridden|..."`.
    """
    _, per_model = _per_model(cfg, keys)
    return [
        (
            {"model": Re.literal(models)}
            if models
            else ({"model": Re.literal(sorted(per_model), negate=True)} if per_model else {}),
            values,
        )
        for models, values in scoped_models(cfg, *keys)
    ]


def split_groups(name: str, rules: Sequence[Rule], dashboard_uid: str) -> list[Group]:
    """`rules` in groups of at most MAX_RULES, named `name`, `name-2`, ... (overrides add rules)."""
    chunks = [tuple(rules[i : i + MAX_RULES]) for i in range(0, len(rules), MAX_RULES)]
    return [
        Group(name if n == 0 else f"{name}-{n + 1}", chunk, dashboard_uid=dashboard_uid)
        for n, chunk in enumerate(chunks)
    ]

"""Per-model overrides (models.overrides) turned into rule scopes, and groups kept within the rule limit.

A threshold a model overrides gets its own rule, scoped to the models sharing that value; the default rule
excludes every overridden model. Each rule then names its own threshold in its description, and a site's
override yields rules as exact as the defaults' (no per-model constant series to keep in step). The drift and
quality metric tables scope the same way, a model's table being the defaults with its override merged in.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, TypeVar

from alerts.lint import MAX_RULES
from alerts.model import Group, Rule
from bundle.overrides import Section, Table, metrics_for
from bundle.promql import Re
from bundle.schema import BundleConfig

Scope = dict[str, str | Re]
T = TypeVar("T")


def _grouped(cfg: BundleConfig, value_of: Callable[[str | None], T]) -> list[tuple[list[str], T]]:
    """(models, value) per distinct value among the overridden models, the default (None) first with no
    models; `value_of(model)` is what a model is judged by."""
    default = value_of(None)
    out: list[tuple[list[str], T]] = [([], default)]
    for model in sorted(cfg.models.overrides):
        value = value_of(model)
        if value == default:
            continue
        shared = next((models for models, seen in out[1:] if seen == value), None)
        if shared is None:
            out.append(([model], value))
        else:
            shared.append(model)
    return out


def _scoped(grouped: list[tuple[list[str], T]]) -> list[tuple[Scope, T]]:
    """`grouped` with model matchers: the default scope is `{}` without overrides, else
    `model!~"overridden|..."`."""
    overridden = sorted(model for models, _ in grouped for model in models)
    return [
        (
            {"model": Re.literal(models)}
            if models
            else ({"model": Re.literal(overridden, negate=True)} if overridden else {}),
            value,
        )
        for models, value in grouped
    ]


def _values(cfg: BundleConfig, keys: tuple[tuple[str, str], ...]) -> Callable[[str | None], tuple[Any, ...]]:
    default = tuple(getattr(getattr(cfg, section), key) for section, key in keys)

    def value_of(model: str | None) -> tuple[Any, ...]:
        override = cfg.models.overrides.get(model, {}) if model else {}
        return tuple(
            override.get(section, {}).get(key, value)
            for (section, key), value in zip(keys, default, strict=True)
        )

    return value_of


def scoped_models(cfg: BundleConfig, *keys: tuple[str, str]) -> list[tuple[list[str], tuple[Any, ...]]]:
    """(overridden models, values of `keys`) per distinct combination, default first (with no models)."""
    return _grouped(cfg, _values(cfg, keys))


def scopes(cfg: BundleConfig, *keys: tuple[str, str]) -> list[tuple[Scope, tuple[Any, ...]]]:
    """(model matchers, values of `keys`) per distinct combination of (section, key) values, default first.

    The default scope is `{}` without overrides, else `model!~"overridden|..."`.
    """
    return _scoped(scoped_models(cfg, *keys))


def scoped_table_models(cfg: BundleConfig, section: Section) -> list[tuple[list[str], Table]]:
    """(overridden models, metric table) per distinct table of `section` (drift or quality), default first:
    the section's `metrics` with each model's override merged in (bundle/overrides.py)."""
    defaults: Table = getattr(cfg, section).metrics
    return _grouped(
        cfg,
        lambda model: metrics_for(defaults, cfg.models.overrides, section, model) if model else defaults,
    )


def table_scopes(cfg: BundleConfig, section: Section) -> list[tuple[Scope, Table]]:
    """(model matchers, metric table) per distinct table of `section`, default first."""
    return _scoped(scoped_table_models(cfg, section))


def split_groups(name: str, rules: Sequence[Rule], dashboard_uid: str) -> list[Group]:
    """`rules` in groups of at most MAX_RULES, named `name`, `name-2`, ... (overrides add rules)."""
    chunks = [tuple(rules[i : i + MAX_RULES]) for i in range(0, len(rules), MAX_RULES)]
    return [
        Group(name if n == 0 else f"{name}-{n + 1}", chunk, dashboard_uid=dashboard_uid)
        for n, chunk in enumerate(chunks)
    ]

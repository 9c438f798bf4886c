"""Fresh metric families from catalogue specs, one scrape at a time.

Samples are kept as plain rows (label values in catalogue order) and rendered straight to the text format:
building prometheus-client `Sample`s and re-escaping a histogram's labels for every bucket cost more than
collecting does, and this renderer is the only one: tests read what `/metrics` serves.

Label values are made safe here, once for every collector (`exporter.textsafe`): whatever an upstream sent,
the rendered page is valid UTF-8 text with bounded label values. Rendering returns how many label values
it changed, for `mlobs_label_values_sanitized_total`.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from exporter.catalogue.spec import MetricSpec
from exporter.exposition import escape_help, escape_label, format_value
from exporter.textsafe import safe_text

Buckets = Sequence[tuple[str, float]]


@dataclass
class _Family:
    spec: MetricSpec
    rows: list[tuple[tuple[str, ...], float]] = field(default_factory=list)
    histograms: list[tuple[tuple[str, ...], Buckets, float]] = field(default_factory=list)


class FamilySet:
    """Collects samples per spec and yields one family per spec that received any sample.

    Label names are checked against the spec, so a collector cannot emit a label the catalogue
    (and the generated reference) does not know about.
    """

    def __init__(self) -> None:
        self._families: dict[str, _Family] = {}
        self._included: list[FamilySet] = []
        self._rendered: tuple[list[str], int] | None = None

    def _family(self, spec: MetricSpec) -> _Family:
        self._rendered = None
        family = self._families.get(spec.name)
        if family is None:
            family = self._families[spec.name] = _Family(spec)
        return family

    @staticmethod
    def _values(spec: MetricSpec, labels: dict[str, str]) -> tuple[str, ...]:
        try:
            # Values are turned into strings when first rendered (cached), not on every add.
            values = tuple([labels[name] for name in spec.labels])
        except KeyError:
            values = ()
        if len(values) != len(labels) or len(values) != len(spec.labels):
            raise ValueError(f"{spec.name}: labels {sorted(labels)} != catalogue {sorted(spec.labels)}")
        return values

    def add(self, spec: MetricSpec, value: float, **labels: str) -> None:
        """Add one gauge or counter sample."""
        if spec.type == "histogram":
            raise ValueError(f"{spec.name} is a histogram: use add_histogram")
        self._family(spec).rows.append((self._values(spec, labels), float(value)))

    def add_histogram(self, spec: MetricSpec, buckets: Buckets, sum_value: float, **labels: str) -> None:
        """Add one histogram: cumulative `(le, count)` pairs ending with `+Inf`, and the sum."""
        if spec.type != "histogram":
            raise ValueError(f"{spec.name} is not a histogram")
        if not buckets or buckets[-1][0] != "+Inf":
            raise ValueError(f"{spec.name}: buckets must end with +Inf")
        self._family(spec).histograms.append((self._values(spec, labels), buckets, float(sum_value)))

    def touch(self, specs: Iterable[MetricSpec]) -> None:
        """Make these families present even without samples (always-present series, HELP for dashboards)."""
        for spec in specs:
            self._family(spec)

    def include(self, snapshot: FamilySet) -> None:
        """Add a set built once and served by many scrapes (a cached snapshot): it is rendered once.

        The snapshot must not be changed afterwards except by rebuilding it; it cannot include others.
        """
        if snapshot._included:
            raise ValueError("an included FamilySet cannot include others")
        self._included.append(snapshot)

    def _parts(self) -> list[dict[str, _Family]]:
        parts = [self._families, *(snapshot._families for snapshot in self._included)]
        names = [name for part in parts for name in part]
        if len(names) == len(set(names)):
            return parts
        # The same family in several parts (rare): merge rows so each family is written once.
        merged: dict[str, _Family] = {}
        for part in parts:
            for name, family in part.items():
                target = merged.setdefault(name, _Family(family.spec))
                target.rows.extend(family.rows)
                target.histograms.extend(family.histograms)
        return [merged]

    def render_into(self, lines: list[str]) -> int:
        """Append this set's families in the text format (0.0.4), one line per list item; returns how
        many label values were made safe (see `exporter.textsafe`)."""
        parts = self._parts()
        changed = 0
        if len(parts) == 1 + len(self._included):
            for family in self._families.values():
                changed += _render_family(family, lines)
            for snapshot in self._included:
                rendered, snapshot_changed = snapshot._rendered_lines()
                lines.extend(rendered)
                changed += snapshot_changed
            return changed
        for family in parts[0].values():
            changed += _render_family(family, lines)
        return changed

    def _rendered_lines(self) -> tuple[list[str], int]:
        rendered = self._rendered
        if rendered is None:  # two scrapes may both render the first time: same result, no harm
            lines: list[str] = []
            changed = sum(_render_family(family, lines) for family in self._families.values())
            rendered = self._rendered = (lines, changed)
        return rendered


def _safe_values(values: tuple[str, ...]) -> tuple[list[str], int]:
    """The label values as safe strings, and how many of them had to change."""
    texts = [str(value) for value in values]
    safe = [safe_text(text) for text in texts]
    return safe, sum(1 for text, made in zip(texts, safe, strict=True) if text != made)


# Rendered label strings (and how many values were made safe) by family and label values. The same series
# come back every scrape (the same GPUs, pods, models), so most lookups hit; the cache is dropped whole when
# it grows past its bound (churn).
_PREFIXES: dict[tuple[str, tuple[str, ...]], tuple[str, int]] = {}
_PREFIX_CACHE_LIMIT = 200_000


def _label_prefix(spec: MetricSpec, values: tuple[str, ...]) -> tuple[str, int]:
    key = (spec.name, values)
    prefix = _PREFIXES.get(key)
    if prefix is None:
        safe, changed = _safe_values(values)
        pairs = zip(spec.labels, safe, strict=True)
        prefix = (",".join(f'{name}="{escape_label(value)}"' for name, value in pairs), changed)
        if len(_PREFIXES) >= _PREFIX_CACHE_LIMIT:
            _PREFIXES.clear()
        _PREFIXES[key] = prefix
    return prefix


def _render_family(family: _Family, lines: list[str]) -> int:
    """Append one family's lines; returns how many label values were made safe."""
    spec = family.spec
    append = lines.append
    append(f"# HELP {spec.name} {escape_help(spec.help)}")
    append(f"# TYPE {spec.name} {spec.type}")
    names = spec.labels
    changed = 0
    if spec.type != "histogram":
        for values, value in family.rows:
            if names:
                prefix, made_safe = _label_prefix(spec, values)
                changed += made_safe
                append(f"{spec.name}{{{prefix}}} {format_value(value)}")
            else:
                append(f"{spec.name} {format_value(value)}")
        return changed
    bucket_name, count_name, sum_name = f"{spec.name}_bucket", f"{spec.name}_count", f"{spec.name}_sum"
    for values, buckets, sum_value in family.histograms:
        # One escaped label prefix per histogram, shared by all its buckets.
        prefix, made_safe = _label_prefix(spec, values)
        changed += made_safe
        bucket_open = f"{bucket_name}{{{prefix},le=" if prefix else f"{bucket_name}{{le="
        for le, count in buckets:
            append(f'{bucket_open}"{le}"}} {format_value(float(count))}')
        total = format_value(float(buckets[-1][1]))
        if prefix:
            append(f"{count_name}{{{prefix}}} {total}")
            append(f"{sum_name}{{{prefix}}} {format_value(sum_value)}")
        else:
            append(f"{count_name} {total}")
            append(f"{sum_name} {format_value(sum_value)}")
    return changed

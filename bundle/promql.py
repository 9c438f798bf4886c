"""PromQL built from the exporter's catalogue: a metric or label it does not declare fails the build.

Alerts and dashboards never spell a metric name as a bare string: they ask `Metrics` for a selector, so a
rename in the catalogue (`exporter/*/catalogue.py`) breaks `make generate`, not the pager.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from functools import cache

from exporter.catalogue import by_name
from exporter.catalogue.spec import MetricSpec


class UnknownMetricError(LookupError):
    pass


@cache
def _catalogue() -> Mapping[str, MetricSpec]:
    return by_name()


def spec(name: str) -> MetricSpec:
    """The catalogue entry for `name`; raises UnknownMetricError when the exporter does not declare it."""
    found = _catalogue().get(name)
    if found is None:
        raise UnknownMetricError(f"{name}: not in the exporter's metric catalogue (exporter/*/catalogue.py)")
    return found


def _series_labels(name: str) -> tuple[str, ...]:
    """Declared labels of a scraped series: a family's, or a histogram's _bucket (plus le), _count, _sum."""
    for suffix in ("_bucket", "_count", "_sum"):
        base = name.removesuffix(suffix)
        if base != name and (found := _catalogue().get(base)) is not None and found.type == "histogram":
            return (*found.labels, "le") if suffix == "_bucket" else found.labels
    return spec(name).labels


_REGEX_SPECIAL = re.compile(r"([.*+?^$()\[\]{}|\\])")


@dataclass(frozen=True)
class Re:
    """A regex label matcher (`=~`, or `!~` when `negate`)."""

    pattern: str
    negate: bool = False

    @staticmethod
    def any_of(values: Iterable[object]) -> Re:
        return Re("|".join(str(v) for v in values))

    @staticmethod
    def literal(values: Iterable[str], negate: bool = False) -> Re:
        """Matches exactly these strings (regex characters in them escaped)."""
        return Re("|".join(_REGEX_SPECIAL.sub(r"\\\1", v) for v in values), negate)


def with_cluster(cluster_label: str, *labels: str) -> tuple[str, ...]:
    """`labels` with the cluster label first, so a global view (Thanos, Mimir, VictoriaMetrics) never mixes
    clusters in an aggregation or a match; an empty cluster label (one cluster) is left out."""
    return (cluster_label, *labels) if cluster_label else labels


def join_labels(cluster_label: str, *labels: str) -> str:
    """`labels` (cluster label first when set) joined for a `by (...)`, `on (...)` or `group_left (...)`."""
    return ", ".join(with_cluster(cluster_label, *labels))


def _quote(value: str) -> str:
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def selector(name: str, **matchers: str | Re) -> str:
    """`name{label="v", other=~"a|b"}` (a bare name without matchers); for recorded series, which the
    catalogue does not declare."""
    parts = []
    for label, value in matchers.items():
        if isinstance(value, Re):
            parts.append(f"{label}{'!~' if value.negate else '=~'}{_quote(value.pattern)}")
        else:
            parts.append(f"{label}={_quote(value)}")
    return f"{name}{{{', '.join(parts)}}}" if parts else name


@dataclass(frozen=True)
class Metrics:
    """Selectors for one scrape job; `target_labels` are the labels Prometheus adds (job, node, instance)."""

    job_label: str
    job: str
    target_labels: frozenset[str]
    cluster_label: str = ""

    def __call__(self, name: str, **matchers: str | Re) -> str:
        """`name{job="...", label="v", other=~"a|b"}`, the name and labels checked against the catalogue."""
        declared = _series_labels(name)
        for label in matchers:
            if label not in declared and label not in self.target_labels:
                raise UnknownMetricError(f"{name}: has no label {label!r} (declared: {', '.join(declared)})")
        return selector(name, **{self.job_label: self.job}, **matchers)

    def labels(self, name: str) -> tuple[str, ...]:
        """The labels a series of `name` carries once scraped: declared ones plus the target labels."""
        return (*_series_labels(name), *sorted(self.target_labels))

    def by(self, name: str, *labels: str) -> str:
        """`labels` joined for `by (...)`/`on (...)` over series of `name`, each checked to exist on them;
        the cluster label, which external labels add, comes first when one is configured."""
        known = self.labels(name)
        unknown = [label for label in labels if label not in known]
        if unknown:
            raise UnknownMetricError(f"{name}: has no label {unknown[0]!r} (declared: {', '.join(known)})")
        return join_labels(self.cluster_label, *labels)

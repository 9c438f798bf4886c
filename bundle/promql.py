"""PromQL built from the exporter's catalogue: a metric or label it does not declare fails the build.

Alerts and dashboards never spell a metric name as a bare string: they ask `Metrics` for a selector, so a
rename in `exporter/catalogue/` breaks `make generate`, not the pager.
"""

from __future__ import annotations

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
        raise UnknownMetricError(f"{name}: not in the exporter's metric catalogue (exporter/catalogue/)")
    return found


@dataclass(frozen=True)
class Re:
    """A regex label matcher (`=~`)."""

    pattern: str

    @staticmethod
    def any_of(values: Iterable[object]) -> Re:
        return Re("|".join(str(v) for v in values))


def _quote(value: str) -> str:
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


@dataclass(frozen=True)
class Metrics:
    """Selectors for one scrape job; `target_labels` are the labels Prometheus adds (job, node, instance)."""

    job_label: str
    job: str
    target_labels: frozenset[str]

    def __call__(self, name: str, **matchers: str | Re) -> str:
        """`name{job="...", label="v", other=~"a|b"}`, the name and labels checked against the catalogue."""
        declared = spec(name)
        for label in matchers:
            if label not in declared.labels and label not in self.target_labels:
                raise UnknownMetricError(
                    f"{name}: has no label {label!r} (declared: {', '.join(declared.labels)})"
                )
        parts = [f"{self.job_label}={_quote(self.job)}"]
        for label, value in matchers.items():
            if isinstance(value, Re):
                parts.append(f"{label}=~{_quote(value.pattern)}")
            else:
                parts.append(f"{label}={_quote(value)}")
        return f"{name}{{{', '.join(parts)}}}"

    def labels(self, name: str) -> tuple[str, ...]:
        """The labels a series of `name` carries once scraped: declared ones plus the target labels."""
        return (*spec(name).labels, *sorted(self.target_labels))

    def by(self, name: str, *labels: str) -> str:
        """`labels` joined for `by (...)`/`on (...)` over series of `name`, each checked to exist on them."""
        known = self.labels(name)
        unknown = [label for label in labels if label not in known]
        if unknown:
            raise UnknownMetricError(f"{name}: has no label {unknown[0]!r} (declared: {', '.join(known)})")
        return ", ".join(labels)

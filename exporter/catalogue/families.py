"""Build fresh prometheus-client metric families from catalogue specs, one scrape at a time."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence

from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)

from exporter.catalogue.spec import MetricSpec

Buckets = Sequence[tuple[str, float]]


class FamilySet:
    """Collects samples per spec and yields one family per spec that received any sample.

    Label names are checked against the spec, so a collector cannot emit a label the catalogue
    (and the generated reference) does not know about.
    """

    def __init__(self) -> None:
        self._families: dict[str, Metric] = {}

    def _family(self, spec: MetricSpec) -> Metric:
        family = self._families.get(spec.name)
        if family is None:
            labels = list(spec.labels)
            if spec.type == "counter":
                family = CounterMetricFamily(spec.family_name, spec.help, labels=labels)
            elif spec.type == "histogram":
                family = HistogramMetricFamily(spec.name, spec.help, labels=labels)
            else:
                family = GaugeMetricFamily(spec.name, spec.help, labels=labels)
            self._families[spec.name] = family
        return family

    @staticmethod
    def _values(spec: MetricSpec, labels: dict[str, str]) -> list[str]:
        if labels.keys() != set(spec.labels):
            raise ValueError(f"{spec.name}: labels {sorted(labels)} != catalogue {sorted(spec.labels)}")
        return [str(labels[name]) for name in spec.labels]

    def add(self, spec: MetricSpec, value: float, **labels: str) -> None:
        """Add one gauge or counter sample."""
        if spec.type == "histogram":
            raise ValueError(f"{spec.name} is a histogram: use add_histogram")
        family = self._family(spec)
        family.add_metric(self._values(spec, labels), float(value))  # type: ignore[attr-defined]

    def add_histogram(self, spec: MetricSpec, buckets: Buckets, sum_value: float, **labels: str) -> None:
        """Add one histogram: cumulative `(le, count)` pairs ending with `+Inf`, and the sum."""
        if spec.type != "histogram":
            raise ValueError(f"{spec.name} is not a histogram")
        family = self._family(spec)
        family.add_metric(  # type: ignore[attr-defined]
            self._values(spec, labels), [(le, float(count)) for le, count in buckets], float(sum_value)
        )

    def touch(self, specs: Iterable[MetricSpec]) -> None:
        """Make these families present even without samples (always-present series, HELP for dashboards)."""
        for spec in specs:
            self._family(spec)

    def __iter__(self) -> Iterator[Metric]:
        return iter(self._families.values())

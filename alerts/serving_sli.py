"""PromQL of the serving SLIs over TF Serving series, shared by the serving records and the SLO groups.

Traffic is what clients asked for: successful requests (the latency histogram's count, which leaves out
status and metadata polls such as the exporter's own) plus non-OK requests. Errors are non-OK requests less
the client's own mistakes (serving.client_error_codes). The latency histogram counts successful requests only.
"""

from __future__ import annotations

from dataclasses import dataclass

from alerts.per_model import Scope
from alerts.selectors import job_metrics
from bundle.latency_bounds import bucket_le
from bundle.promql import Metrics, Re
from bundle.schema import BundleConfig

DURATION = "tfserving_request_duration_seconds"
REQUESTS = "tfserving_requests_total"
MODEL = ("namespace", "model")
MODEL_VERSION = ("namespace", "model", "version")


@dataclass(frozen=True)
class ServingSli:
    m: Metrics
    client_error_codes: tuple[str, ...]

    @staticmethod
    def of(cfg: BundleConfig) -> ServingSli:
        m = job_metrics(cfg, cfg.serving.job, cfg.naming.node_label, "instance")
        return ServingSli(m, cfg.serving.client_error_codes)

    def by(self, labels: tuple[str, ...]) -> str:
        return self.m.by(REQUESTS, *labels)

    def traffic(self, window: str, labels: tuple[str, ...]) -> str:
        """Requests per second, real traffic only."""
        ok = f"rate({self.m(f'{DURATION}_count')}[{window}])"
        not_ok = f"rate({self.m(REQUESTS, status=Re('OK', negate=True))}[{window}])"
        return f"sum by ({self.by(labels)}) (\n  {ok}\n  or\n  {not_ok}\n)"

    def errors(self, window: str, labels: tuple[str, ...]) -> str:
        """Errors per second; 0, not absent, for a model that never failed (TF adds status series lazily)."""
        bad = Re.literal(("OK", *self.client_error_codes), negate=True)
        zero = f"0 * rate({self.m(f'{DURATION}_count')}[{window}])"
        bad_rate = f"rate({self.m(REQUESTS, status=bad)}[{window}])"
        return f"sum by ({self.by(labels)}) (\n  {bad_rate}\n  or\n  {zero}\n)"

    def error_ratio(self, window: str, labels: tuple[str, ...]) -> str:
        return f"{self.errors(window, labels)}\n/\n{self.traffic(window, labels)}"

    def latency_buckets(self, window: str) -> str:
        """Per model version and `le`: successful requests per second under each bound, pods summed."""
        by = self.m.by(f"{DURATION}_bucket", *MODEL_VERSION, "le")
        return f"sum by ({by}) (rate({self.m(f'{DURATION}_bucket')}[{window}]))"

    def latency_quantile(self, quantile: float, window: str, labels: tuple[str, ...]) -> str:
        by = self.m.by(f"{DURATION}_bucket", *labels, "le")
        buckets = f"rate({self.m(f'{DURATION}_bucket')}[{window}])"
        return f"histogram_quantile({quantile:g}, sum by ({by}) ({buckets}))"

    def successes(self, window: str) -> str:
        """Successful requests per second per model (the latency SLI's events)."""
        return f"sum by ({self.by(MODEL)}) (rate({self.m(f'{DURATION}_count')}[{window}]))"

    def slow(self, window: str, thresholds: list[tuple[Scope, float]]) -> str:
        """Successful requests per second slower than the model's threshold bound (per scope), per model."""
        fast = "\n  or\n  ".join(
            f"rate({self.m(f'{DURATION}_bucket', le=_le(seconds), **scope)}[{window}])"
            for scope, seconds in thresholds
        )
        return f"{self.successes(window)}\n-\nsum by ({self.by(MODEL)}) (\n  {fast}\n)"


def _le(seconds: float) -> str:
    le = bucket_le(seconds)
    if le is None:  # config validation rejects this first
        raise ValueError(f"{seconds!r} is not a TF Serving latency bucket bound")
    return le

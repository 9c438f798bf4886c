"""Value checks shared by the bundle config's sections: each problem is collected and named by its key."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

_DURATION = re.compile(r"^(?:(\d+)y)?(?:(\d+)w)?(?:(\d+)d)?(?:(\d+)h)?(?:(\d+)m)?(?:(\d+)s)?(?:(\d+)ms)?$")
_DURATION_UNITS = (365 * 86400, 7 * 86400, 86400, 3600, 60, 1, 0.001)
LABEL_NAME = re.compile(r"^[a-zA-Z_][a-zA-Z0-9_]*$")
# Kubernetes label keys: an optional DNS-subdomain prefix and a name; values up to 63 characters.
K8S_LABEL_KEY = re.compile(
    r"^(?:[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?/)?[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?$"
)
K8S_LABEL_VALUE = re.compile(r"^(?:[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?)?$")
DNS_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$")
DNS_SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?$")
QUANTITY = re.compile(r"^[0-9]+(\.[0-9]+)?(m|Ki|Mi|Gi|Ti|k|M|G|T)?$")
CAMEL = re.compile(r"^[A-Z][A-Za-z0-9]*$")


def duration_seconds(text: str) -> float:
    """Seconds in a Prometheus duration ("1h30m"); ValueError when it is not one."""
    match = _DURATION.match(text)
    if not text or match is None:
        raise ValueError(f"not a Prometheus duration: {text!r}")
    return sum(int(part) * unit for part, unit in zip(match.groups(), _DURATION_UNITS, strict=True) if part)


class Checks:
    """Collects every problem, each named by its key."""

    def __init__(self) -> None:
        self.problems: list[str] = []

    def require(self, ok: bool, key: str, message: str) -> None:
        if not ok:
            self.problems.append(f"{key}: {message}")

    def duration(self, key: str, value: str) -> float:
        try:
            seconds = duration_seconds(value)
        except ValueError:
            self.problems.append(f"{key}: must be a Prometheus duration like 30s, 5m or 1h, got {value!r}")
            return 0.0
        return seconds

    def ratio(self, key: str, value: float) -> None:
        self.require(0 < value <= 1, key, f"must be a ratio in (0, 1], got {value!r}")

    def label_name(self, key: str, value: str) -> None:
        self.require(bool(LABEL_NAME.match(value)), key, f"must be a Prometheus label name, got {value!r}")

    def k8s_labels(self, key: str, labels: Mapping[str, Any]) -> None:
        for name, value in labels.items():
            ok = isinstance(name, str) and bool(K8S_LABEL_KEY.match(name))
            ok = ok and isinstance(value, str) and bool(K8S_LABEL_VALUE.match(value))
            self.require(
                ok, f"{key}.{name}", f"must be a Kubernetes label with a string value, got {value!r}"
            )

    def resources(self, key: str, value: Mapping[str, Any]) -> None:
        for kind, amounts in value.items():
            if kind not in ("requests", "limits") or not isinstance(amounts, Mapping):
                self.problems.append(f"{key}.{kind}: must be requests or limits, a mapping of quantities")
                continue
            for resource, amount in amounts.items():
                ok = (
                    resource in ("cpu", "memory") and isinstance(amount, str) and bool(QUANTITY.match(amount))
                )
                self.require(
                    ok, f"{key}.{kind}.{resource}", f"must be a cpu or memory quantity, got {amount!r}"
                )

    def pattern(self, key: str, value: str, placeholder: str) -> None:
        try:
            value.format(**{placeholder: "x"})
        except (KeyError, IndexError, ValueError):
            self.problems.append(f"{key}: may use only the {{{placeholder}}} placeholder, got {value!r}")
            return
        self.require(f"{{{placeholder}}}" in value, key, f"must contain {{{placeholder}}}")

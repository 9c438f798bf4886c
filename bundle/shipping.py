"""The shipping sections of the bundle config (`web:`, `alertmanager:`, `autoscaling:`), typed and checked.

Read beside `BundleConfig` from the same merged file (defaults plus a user's override), so one `--config FILE`
drives both; folding these three fields into `BundleConfig` later changes no generator.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from bundle.checks import DNS_LABEL, DNS_SUBDOMAIN, Checks
from bundle.config import BundleConfigError, load
from bundle.schema import _section
from bundle.sections import Alertmanager, Autoscaling, Web

_METRIC_NAME = re.compile(r"^[a-zA-Z_:][a-zA-Z0-9_:]*$")


@dataclass(frozen=True)
class Shipping:
    web: Web
    alertmanager: Alertmanager
    autoscaling: Autoscaling


def from_dict(data: dict[str, Any]) -> Shipping:
    return Shipping(
        web=_section(Web, data["web"]),
        alertmanager=_section(Alertmanager, data["alertmanager"]),
        autoscaling=_section(Autoscaling, data["autoscaling"]),
    )


def _secret(c: Checks, key: str, name: str, required: bool) -> None:
    ok = bool(DNS_SUBDOMAIN.match(name)) if name or required else True
    c.require(ok, key, f"must be a Secret name{'' if required else ' or empty'}, got {name!r}")


def check(s: Shipping) -> list[str]:
    """Every problem of the shipping sections, each naming its key."""
    c = Checks()
    w, a, x = s.web, s.alertmanager, s.autoscaling
    if w.enabled:
        _secret(c, "web.config_secret", w.config_secret, True)
        _secret(c, "web.ca_secret", w.ca_secret, w.tls)
        _secret(c, "web.client_cert_secret", w.client_cert_secret, False)
        _secret(c, "web.basic_auth_secret", w.basic_auth_secret, w.basic_auth)
        c.require(not w.client_cert_secret or w.tls, "web.client_cert_secret", "needs web.tls")
    for key in ("pager_url", "ticket_url", "info_url"):
        url = getattr(a, key)
        parts = urlsplit(url)
        ok = (not url and key == "info_url") or (parts.scheme in ("http", "https") and bool(parts.hostname))
        c.require(ok, f"alertmanager.{key}", f"must be an http(s) URL, got {url!r}")
    for key in ("group_wait", "group_interval", "pager_repeat_interval", "ticket_repeat_interval"):
        c.duration(f"alertmanager.{key}", getattr(a, key))
    c.require(bool(_METRIC_NAME.match(x.metric_name)), "autoscaling.metric_name", "must be a metric name")
    for key in ("example_deployment", "example_namespace"):
        value = getattr(x, key)
        c.require(bool(DNS_LABEL.match(value)), f"autoscaling.{key}", f"must be a DNS label, got {value!r}")
    c.duration("autoscaling.rate_window", x.rate_window)
    c.ratio("autoscaling.example_target_ratio", x.example_target_ratio)
    c.require(
        1 <= x.example_min_replicas <= x.example_max_replicas,
        "autoscaling.example_min_replicas",
        "must be at least 1 and at most autoscaling.example_max_replicas",
    )
    return c.problems


def load_shipping(path: str | Path | None = None) -> Shipping:
    """The checked shipping sections of the effective config; BundleConfigError names every bad key."""
    shipping = from_dict(load(path))
    problems = check(shipping)
    if problems:
        raise BundleConfigError(f"{path or 'bundle.yaml'}: " + "; ".join(problems))
    return shipping

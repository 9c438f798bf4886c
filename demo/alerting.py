"""The paging end of the stack: an Alertmanager config and a webhook receiver that records what it gets."""

from __future__ import annotations

import copy
import json
import sys
import threading
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from bundle.schema import BundleConfig
from demo.loopback import LoopbackServer, QuietHandler

# (bundle config, webhook URL) -> Alertmanager config; Stack(alertmanager=...) takes another.
AlertmanagerConfig = Callable[[BundleConfig, str], dict[str, Any]]


def route_everything_to(cfg: BundleConfig, webhook_url: str) -> dict[str, Any]:
    """Every alert to the webhook at once, one notification per alert, resolved ones too."""
    return {
        "route": {
            "receiver": "webhook",
            "group_by": ["..."],
            "group_wait": "1s",
            "group_interval": "1s",
            "repeat_interval": "1h",
        },
        "receivers": [{"name": "webhook", "webhook_configs": [{"url": webhook_url, "send_resolved": True}]}],
    }


# Alertmanager's timers on every route delivering to the webhook: a test waits seconds, not minutes.
FAST_TIMERS = {"group_wait": "1s", "group_interval": "1s"}


def via_webhook(generate: Callable[[BundleConfig], dict[str, Any]]) -> AlertmanagerConfig:
    """A generated Alertmanager config as it is (routes, matchers, grouping, inhibitions), except that every
    receiver posts to the webhook (which records the receiver's name) and the routes' timers are short:
    `Stack(alertmanager=via_webhook(alertmanager.build))` tests the real routing tree end to end."""

    def config(cfg: BundleConfig, webhook_url: str) -> dict[str, Any]:
        data = copy.deepcopy(generate(cfg))
        data["receivers"] = [
            {"name": r["name"], "webhook_configs": [{"url": webhook_url, "send_resolved": True}]}
            for r in data.get("receivers", [])
        ]
        data.pop("templates", None)  # files of the real deployment, for receivers that are gone
        _fast(data["route"], root=True)
        return data

    return config


def _fast(route: dict[str, Any], root: bool = False) -> None:
    """Short timers on the root (the defaults children inherit) and on every child that sets its own."""
    route.update({key: value for key, value in FAST_TIMERS.items() if root or key in route})
    for child in route.get("routes", []):
        _fast(child)


class Webhook:
    """Alertmanager's webhook receiver on loopback: every alert of every notification is kept, appended to
    `log` as a JSON line and printed when `echo` is set; GET / answers the alerts received so far."""

    def __init__(self, log: Path, echo: bool = False) -> None:
        self.alerts: list[dict[str, Any]] = []
        self.log = log
        self.echo = echo
        self._changed = threading.Condition()
        webhook = self

        class Handler(QuietHandler):
            def do_POST(self) -> None:
                webhook.receive(json.loads(self.body() or b"{}"))
                self.reply(b"")

            def do_GET(self) -> None:
                with webhook._changed:
                    self.reply(json.dumps(webhook.alerts, indent=2).encode())

        self._server = LoopbackServer(Handler, "webhook")
        self.url = self._server.url

    def start(self) -> Webhook:
        self._server.start()
        return self

    def stop(self) -> None:
        self._server.stop()

    def receive(self, notification: dict[str, Any]) -> None:
        # Which receiver the routing tree chose, on each alert: paging tests assert the route too.
        receiver = notification.get("receiver", "")
        alerts = [{**a, "receiver": receiver} for a in notification.get("alerts") or []]
        with self._changed:
            self.alerts.extend(alerts)
            with self.log.open("a", encoding="utf-8") as out:
                for alert in alerts:
                    out.write(json.dumps(alert, sort_keys=True) + "\n")
            self._changed.notify_all()
        if self.echo:
            for alert in alerts:
                labels = alert.get("labels", {})
                shown = ", ".join(f"{k}={v}" for k, v in sorted(labels.items()) if k != "alertname")
                # One write per line: notifications arrive on several threads at once.
                sys.stdout.write(f"webhook: {alert.get('status')} {labels.get('alertname')} {{{shown}}}\n")
                sys.stdout.flush()

    def received(
        self,
        alertname: str,
        status: str = "firing",
        receiver: str | None = None,
        labels: Mapping[str, str] | None = None,
    ) -> list[dict[str, Any]]:
        """The alerts named `alertname` with `status` (sent to `receiver`, carrying `labels`, when given)."""
        wanted = dict(labels or {}, alertname=alertname).items()
        with self._changed:
            return [
                a
                for a in self.alerts
                if wanted <= a.get("labels", {}).items()
                and a.get("status") == status
                and receiver in (None, a["receiver"])
            ]

    def summary(self) -> list[str]:
        """What arrived so far, one `status alertname -> receiver {labels}` line per distinct alert."""
        with self._changed:
            lines = {
                f"{a.get('status')} {a.get('labels', {}).get('alertname')} -> {a['receiver']} "
                + "{"
                + ", ".join(f"{k}={v}" for k, v in sorted(a.get("labels", {}).items()) if k != "alertname")
                + "}"
                for a in self.alerts
            }
        return sorted(lines)

    def wait_for(
        self,
        alertname: str,
        status: str = "firing",
        timeout: float = 120,
        receiver: str | None = None,
        labels: Mapping[str, str] | None = None,
    ) -> dict[str, Any]:
        """The first alert named `alertname` with `status` (sent to `receiver`, carrying `labels`, when given)
        the webhook got; waits for one up to `timeout`."""
        deadline = time.monotonic() + timeout
        with self._changed:
            while True:
                found = self.received(alertname, status, receiver, labels)
                if found:
                    return found[0]
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    wanted = f"{alertname} {dict(labels or {})} to {receiver or 'any receiver'}"
                    got = "\n  ".join(self.summary()) or "nothing"
                    raise TimeoutError(f"no {status} {wanted} within {timeout:g} s; received:\n  {got}")
                self._changed.wait(remaining)

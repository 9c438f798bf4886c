"""Issue 11's live proof: the paging path end to end. Faults injected one at a time into the local stack reach
the generated Alertmanager routing tree (every receiver pointed at the webhook), get the receiver their
severity routes to, keep their labels and runbook link, are silenced by their inhibitions, and resolve once
the fault is gone.

One stack for the module; the tests run in file order, each leaving the stack healthy for the next.
"""

from __future__ import annotations

import json
import urllib.request
from collections.abc import Iterator, Mapping
from typing import Any

import pytest

from bundle.schema import BundleConfig
from bundle.shipping import load_shipping
from demo.alerting import via_webhook
from demo.gpu_node import NODE
from demo.stack import Stack
from servicemonitors import alertmanager
from tests.test_runbooks import github_anchor, sections

pytestmark = pytest.mark.slow

WAIT = 120.0  # per awaited notification: rate windows of 30 s and pending of 10 s, on a busy machine
LOST_GPU = 7  # free of pods: no serving alert joins the GPU's
SPIKED, CALM = "ranking", "fraud-detector"
RUNBOOK_ANCHORS = {github_anchor(name) for name in sections()}  # docs/runbooks.md: one per alert


def generated(cfg: BundleConfig) -> dict[str, Any]:
    """The Alertmanager config the bundle ships (alertmanager/alertmanager.yaml)."""
    return alertmanager.config(cfg, load_shipping().alertmanager)


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    with Stack(folder=tmp_path_factory.mktemp("stack"), alertmanager=via_webhook(generated)) as running:
        running.wait_scraped(timeout=WAIT)
        yield running


def prefixed(cfg: BundleConfig, name: str) -> str:
    return f"{cfg.naming.alert_prefix}{name}"


def page(stack: Stack, name: str, receiver: str, labels: Mapping[str, str] | None = None) -> dict[str, Any]:
    """The firing notification of alert `name` (unprefixed) at `receiver`, awaited."""
    return stack.webhook.wait_for(prefixed(stack.cfg, name), "firing", WAIT, receiver, labels)


def resolved(stack: Stack, name: str, labels: Mapping[str, str] | None = None) -> dict[str, Any]:
    return stack.webhook.wait_for(prefixed(stack.cfg, name), "resolved", WAIT, None, labels)


def runbook_of(stack: Stack, name: str) -> str:
    return stack.cfg.links.runbook_url_pattern.format(alert=prefixed(stack.cfg, name).lower())


def alertmanager_alerts(stack: Stack) -> list[dict[str, Any]]:
    """Alertmanager's own view (/api/v2/alerts): every alert it holds, active, inhibited or silenced."""
    with urllib.request.urlopen(f"{stack.urls['alertmanager']}/api/v2/alerts", timeout=10) as response:
        alerts: list[dict[str, Any]] = json.loads(response.read())
    return alerts


def assert_routed(alert: dict[str, Any], severity: str, receiver: str, runbook: str) -> None:
    assert alert["receiver"] == receiver, alert
    assert alert["labels"]["severity"] == severity, alert
    assert alert["annotations"]["runbook_url"] == runbook, alert
    page_url, anchor = runbook.split("#")
    assert page_url.endswith("docs/runbooks.md") and anchor in RUNBOOK_ANCHORS, runbook


def assert_inhibited(stack: Stack, cause: str, symptoms: tuple[str, ...], labels: Mapping[str, str]) -> None:
    """Alertmanager holds at least one of `symptoms` (unprefixed names; carrying `labels`) and every one it
    holds is suppressed by `cause`; none of them reaches the webhook from now on (checked by the caller)."""
    held = alertmanager_alerts(stack)
    (source,) = [a for a in held if a["labels"]["alertname"] == prefixed(stack.cfg, cause)]
    names = tuple(prefixed(stack.cfg, name) for name in symptoms)
    targets = [
        a
        for a in held
        if a["labels"]["alertname"].startswith(names) and labels.items() <= a["labels"].items()
    ]
    assert targets, f"none of {names} {dict(labels)} in Alertmanager; it holds {[a['labels'] for a in held]}"
    for target in targets:
        assert target["status"]["state"] == "suppressed", target
        assert target["status"]["inhibitedBy"] == [source["fingerprint"]], target


def fired_since(stack: Stack, count: int, symptoms: tuple[str, ...]) -> list[dict[str, Any]]:
    """Firing notifications of `symptoms` (unprefixed name prefixes) among those after the first `count`."""
    names = tuple(prefixed(stack.cfg, name) for name in symptoms)
    return [
        a
        for a in stack.webhook.alerts[count:]
        if a["status"] == "firing" and a["labels"]["alertname"].startswith(names)
    ]


def test_a_critical_xid_then_a_lost_gpu_page_and_the_lost_gpu_silences_its_symptoms(stack: Stack) -> None:
    gpu = {stack.cfg.naming.node_label: NODE, "gpu": str(LOST_GPU)}
    stack.inject_xid(gpu=LOST_GPU, xid=79, repeat=2)
    for name in ("GpuXidCritical", "GpuLost"):
        alert = page(stack, name, alertmanager.PAGER, gpu)
        assert_routed(alert, "critical", "pager", runbook_of(stack, name))
    # The XID pages before the GPU is lost (lost_for); from then on the lost GPU speaks alone.
    assert_inhibited(stack, "GpuLost", ("GpuXid",), gpu)
    lost_at = len(stack.webhook.alerts)
    stack.clear_faults()
    resolved(stack, "GpuLost", gpu)
    resolved(stack, "GpuXidCritical", gpu)  # once the XID window has passed
    assert not fired_since(stack, lost_at, ("GpuXid",))


def test_a_latency_spike_tickets_that_model_only_and_resolves(stack: Stack) -> None:
    stack.latency_spike(SPIKED)
    alert = page(stack, "ServingLatencyHigh", alertmanager.TICKET, {"model": SPIKED})
    assert_routed(alert, "warning", "ticket", runbook_of(stack, "ServingLatencyHigh"))
    assert not stack.webhook.received(prefixed(stack.cfg, "ServingLatencyHigh"), labels={"model": CALM})
    stack.clear_faults()
    resolved(stack, "ServingLatencyHigh", {"model": SPIKED})
    assert not stack.webhook.received(prefixed(stack.cfg, "ServingLatencyHigh"), labels={"model": CALM})


def test_drift_past_critical_pages_for_that_model_and_resolves(stack: Stack) -> None:
    stack.log_drift(CALM)
    alert = page(stack, "ModelDriftCritical", alertmanager.PAGER, {"model": CALM})
    assert_routed(alert, "critical", "pager", runbook_of(stack, "ModelDriftCritical"))
    warning = float(stack.cfg.drift.metrics["psi"]["warning"])
    stack.log_drift(CALM, value=warning / 10)
    resolved(stack, "ModelDriftCritical", {"model": CALM})


def test_mlflow_down_tickets_the_registry_alone_and_resolves(stack: Stack) -> None:
    symptoms = ("ModelMonitoring", "RegistrySnapshotStale", "RegistryAliasNotReady", "RegistryBurn")
    stack.stop_mlflow()
    alert = page(stack, "RegistryUnreachable", alertmanager.TICKET)
    assert_routed(alert, "warning", "ticket", runbook_of(stack, "RegistryUnreachable"))
    # The registry's error budget burns (and pages, by design) before unreachable_for has passed.
    assert_inhibited(stack, "RegistryUnreachable", symptoms, {})
    unreachable_at = len(stack.webhook.alerts)
    stack.start_mlflow()
    resolved(stack, "RegistryUnreachable")
    assert not fired_since(stack, unreachable_at, symptoms)

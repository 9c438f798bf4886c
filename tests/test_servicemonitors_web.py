"""Protected endpoints (bundle config `web:`): the exporters get the web config, the ServiceMonitors scrape
with the matching scheme, tlsConfig and basicAuth, valid against the operator's CRD."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from bundle.config import BundleConfigError
from bundle.schema import BundleConfig
from bundle.shipping import Shipping, load_shipping
from servicemonitors import objects
from servicemonitors.web import apply
from tests.fixtures_bundle import Validate, pod_spec, round_trip

Built = dict[str, dict[str, Any]]


@pytest.fixture
def shipping(tmp_path: Path) -> Callable[[dict[str, Any]], Shipping]:
    def make(web: dict[str, Any]) -> Shipping:
        path = tmp_path / "override.yaml"
        path.write_text(yaml.safe_dump({"web": web}))
        return load_shipping(path)

    return make


def build(cfg: BundleConfig, ship: Shipping) -> Built:
    return apply(cfg, ship.web, objects(cfg, []))


def kinds(built: Built, *wanted: str) -> list[dict[str, Any]]:
    return [o for o in built.values() if o["kind"] in wanted]


def test_disabled_changes_nothing(bundle_config: BundleConfig) -> None:
    assert build(bundle_config, load_shipping()) == objects(bundle_config, [])


def test_tls_and_basic_auth_reach_every_service_monitor(
    bundle_config: BundleConfig, shipping: Any, validate_servicemonitor: Validate
) -> None:
    built = build(bundle_config, shipping({"enabled": True, "client_cert_secret": "prometheus-client"}))
    monitors = kinds(built, "ServiceMonitor")
    assert len(monitors) == 2
    for monitor in monitors:
        assert validate_servicemonitor(monitor) == []
        (endpoint,) = monitor["spec"]["endpoints"]
        service = monitor["metadata"]["name"]
        assert endpoint["scheme"] == "https"
        assert endpoint["tlsConfig"] == {
            "ca": {"secret": {"name": "mlobs-exporter-tls", "key": "ca.crt"}},
            "serverName": f"{service}.monitoring.svc",
            "cert": {"secret": {"name": "prometheus-client", "key": "tls.crt"}},
            "keySecret": {"name": "prometheus-client", "key": "tls.key"},
        }
        assert endpoint["basicAuth"] == {
            "username": {"name": "mlobs-exporter-basic-auth", "key": "username"},
            "password": {"name": "mlobs-exporter-basic-auth", "key": "password"},
        }


def test_basic_auth_alone_scrapes_plain_http(bundle_config: BundleConfig, shipping: Any) -> None:
    built = build(bundle_config, shipping({"enabled": True, "tls": False}))
    for monitor in kinds(built, "ServiceMonitor"):
        (endpoint,) = monitor["spec"]["endpoints"]
        assert endpoint["scheme"] == "http" and "tlsConfig" not in endpoint and "basicAuth" in endpoint


def test_workloads_mount_the_web_config_and_pass_the_flag(bundle_config: BundleConfig, shipping: Any) -> None:
    built = build(bundle_config, shipping({"enabled": True}))
    workloads = kinds(built, "DaemonSet", "Deployment")
    assert len(workloads) == 2
    for workload in workloads:
        assert round_trip(workload) == workload
        spec = pod_spec(workload)
        assert {"name": "web-config", "secret": {"secretName": "mlobs-exporter-web-config"}} in spec[
            "volumes"
        ]
        (container,) = spec["containers"]
        assert "--web.config.file=/etc/mlobs/web/web.yaml" in container["args"]
        mount = {"name": "web-config", "mountPath": "/etc/mlobs/web", "readOnly": True}
        assert mount in container["volumeMounts"]
        # The kubelet has no credentials: with basic auth the probes check the port only.
        assert "tcpSocket" in container["readinessProbe"] and "tcpSocket" in container["livenessProbe"]


def test_tls_alone_keeps_https_health_probes(bundle_config: BundleConfig, shipping: Any) -> None:
    built = build(bundle_config, shipping({"enabled": True, "basic_auth": False}))
    for workload in kinds(built, "DaemonSet", "Deployment"):
        (container,) = pod_spec(workload)["containers"]
        assert container["readinessProbe"]["httpGet"]["scheme"] == "HTTPS"
        assert container["readinessProbe"]["httpGet"]["path"] == "/health"


def test_server_name_from_the_config(bundle_config: BundleConfig, shipping: Any) -> None:
    built = build(bundle_config, shipping({"enabled": True, "server_name": "exporter.example"}))
    names = {m["spec"]["endpoints"][0]["tlsConfig"]["serverName"] for m in kinds(built, "ServiceMonitor")}
    assert names == {"exporter.example"}


@pytest.mark.parametrize(
    ("web", "message"),
    [
        ({"enabled": True, "ca_secret": ""}, "web.ca_secret: must be a Secret name"),
        (
            {"enabled": True, "basic_auth_secret": "Not_A_Name"},
            "web.basic_auth_secret: must be a Secret name",
        ),
        ({"enabled": True, "tls": False, "client_cert_secret": "c"}, "web.client_cert_secret: needs web.tls"),
        ({"enabeld": True}, "web.enabeld: unknown key"),
    ],
)
def test_bad_web_settings_are_named(shipping: Any, web: dict[str, Any], message: str) -> None:
    with pytest.raises(BundleConfigError, match=message):
        shipping(web)

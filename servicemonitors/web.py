"""Protected endpoints (bundle config `web:`): one pass over the generated objects, like the runbook links.

Enabled, both exporter workloads mount the web config Secret and get `--web.config.file`, and their
ServiceMonitors scrape with the matching `scheme`, `tlsConfig` and `basicAuth`, each read from a Secret in the
exporter's namespace (where the operator looks for a ServiceMonitor's secrets).

Probes: the kubelet cannot send basic-auth credentials from a Secret nor present a client certificate, and the
exporter protects every path, as exporter-toolkit does. With either, probes become TCP checks (the port
answers); with TLS alone they stay HTTP(S) checks of /health and / (the kubelet does not verify certificates).
"""

from __future__ import annotations

from typing import Any

from bundle.schema import BundleConfig
from bundle.sections import Web

MOUNT_DIR = "/etc/mlobs/web"
CONFIG_KEY = "web.yaml"
VOLUME = "web-config"
WORKLOADS = ("DaemonSet", "Deployment")


def _secret_key(name: str, key: str) -> dict[str, str]:
    return {"name": name, "key": key}


def endpoint_fields(web: Web, service: str, namespace: str) -> dict[str, Any]:
    """scheme, tlsConfig and basicAuth of a ServiceMonitor endpoint scraping the Service `service`."""
    if not web.enabled:
        return {}
    fields: dict[str, Any] = {"scheme": "https" if web.tls else "http"}
    if web.tls:
        tls: dict[str, Any] = {
            "ca": {"secret": _secret_key(web.ca_secret, "ca.crt")},
            "serverName": web.server_name or f"{service}.{namespace}.svc",
        }
        if web.client_cert_secret:
            tls["cert"] = {"secret": _secret_key(web.client_cert_secret, "tls.crt")}
            tls["keySecret"] = _secret_key(web.client_cert_secret, "tls.key")
        fields["tlsConfig"] = tls
    if web.basic_auth:
        fields["basicAuth"] = {
            "username": _secret_key(web.basic_auth_secret, "username"),
            "password": _secret_key(web.basic_auth_secret, "password"),
        }
    return fields


def _probe(probe: dict[str, Any], web: Web) -> dict[str, Any]:
    timing = {key: value for key, value in probe.items() if key != "httpGet"}
    port = probe["httpGet"]["port"]
    if web.basic_auth or web.client_cert_secret:
        return {"tcpSocket": {"port": port}, **timing}
    scheme = "HTTPS" if web.tls else "HTTP"
    return {"httpGet": {**probe["httpGet"], "scheme": scheme}, **timing}


def _protect_workload(workload: dict[str, Any], web: Web) -> None:
    spec = workload["spec"]["template"]["spec"]
    spec["volumes"].append({"name": VOLUME, "secret": {"secretName": web.config_secret}})
    for container in spec["containers"]:
        container["args"].append(f"--web.config.file={MOUNT_DIR}/{CONFIG_KEY}")
        container["volumeMounts"].append({"name": VOLUME, "mountPath": MOUNT_DIR, "readOnly": True})
        for probe in ("readinessProbe", "livenessProbe"):
            container[probe] = _probe(container[probe], web)


def apply(cfg: BundleConfig, web: Web, objects: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """`objects` with the web config applied to every exporter workload and ServiceMonitor (in place)."""
    if not web.enabled:
        return objects
    for obj in objects.values():
        if obj["kind"] in WORKLOADS:
            _protect_workload(obj, web)
        elif obj["kind"] == "ServiceMonitor":
            # The operator names the job after the Service; our ServiceMonitors share their Service's name.
            service = obj["metadata"]["name"]
            for endpoint in obj["spec"]["endpoints"]:
                endpoint.update(endpoint_fields(web, service, cfg.naming.namespace))
    return objects

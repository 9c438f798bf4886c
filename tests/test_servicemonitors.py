"""Deploy objects: valid against the operator's CRDs and Kubernetes' models, wired together, config-driven."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest
import yaml

from bundle.schema import BundleConfig
from exporter.plugins import PLUGINS
from exporter.settings import parse
from servicemonitors import cluster, gpu, objects
from servicemonitors.dashboards import MAX_CONFIGMAP_BYTES, ConfigMapTooLarge, configmap
from tests.fixtures_bundle import KUBE_MODELS, Validate, pod_spec, round_trip


@pytest.fixture(scope="module")
def generated(bundle_config: BundleConfig) -> dict[str, dict[str, Any]]:
    from dashboards import build

    return objects(bundle_config, build(bundle_config))


def test_core_objects_survive_the_kubernetes_models(generated: dict[str, dict[str, Any]]) -> None:
    core = [obj for obj in generated.values() if obj["kind"] in KUBE_MODELS]
    assert {obj["kind"] for obj in core} == {
        "DaemonSet",
        "Deployment",
        "Service",
        "ServiceAccount",
        "ConfigMap",
        "ClusterRole",
        "ClusterRoleBinding",
    }
    for obj in core:
        assert round_trip(obj) == obj, obj["kind"]


def test_model_round_trip_catches_a_misspelt_field(bundle_config: BundleConfig) -> None:
    daemonset = gpu.daemonset(bundle_config)
    pod_spec(daemonset)["containers"][0]["readinessprobe"] = {"httpGet": {"path": "/health", "port": 9847}}
    assert round_trip(daemonset) != daemonset


def test_service_monitors_are_valid_against_the_crd(
    generated: dict[str, dict[str, Any]], validate_servicemonitor: Validate
) -> None:
    monitors = [obj for obj in generated.values() if obj["kind"] == "ServiceMonitor"]
    assert len(monitors) == 2
    for monitor in monitors:
        assert validate_servicemonitor(monitor) == [], monitor["metadata"]["name"]


def test_crd_validation_catches_a_misspelt_endpoint_field(
    bundle_config: BundleConfig, validate_servicemonitor: Validate
) -> None:
    monitor = gpu.objects(bundle_config)["gpu-servicemonitor.yaml"]
    monitor["spec"]["endpoints"][0]["scrapeTimout"] = "10s"
    monitor["spec"]["endpoints"][0]["interval"] = "15 seconds"
    errors = validate_servicemonitor(monitor)
    assert any("scrapeTimout" in e for e in errors) and any("interval" in e for e in errors), errors


@pytest.mark.parametrize("module", [gpu, cluster])
def test_service_monitor_finds_its_service_and_the_service_its_pods(
    bundle_config: BundleConfig, module: Any
) -> None:
    found = module.objects(bundle_config)
    (workload,) = [o for o in found.values() if o["kind"] in ("DaemonSet", "Deployment")]
    (svc,) = [o for o in found.values() if o["kind"] == "Service"]
    (monitor,) = [o for o in found.values() if o["kind"] == "ServiceMonitor"]
    assert monitor["spec"]["selector"]["matchLabels"].items() <= svc["metadata"]["labels"].items()
    assert monitor["spec"]["namespaceSelector"]["matchNames"] == [svc["metadata"]["namespace"]]
    assert svc["spec"]["selector"].items() <= workload["spec"]["template"]["metadata"]["labels"].items()
    assert workload["spec"]["selector"]["matchLabels"] == svc["spec"]["selector"]
    port_names = {p["name"] for p in svc["spec"]["ports"]}
    assert monitor["spec"]["endpoints"][0]["port"] in port_names
    assert pod_spec(workload)["containers"][0]["ports"][0]["containerPort"] == bundle_config.exporter.port
    # The operator names the job after the Service: the alerts' and dashboards' job selectors depend on it.
    assert svc["metadata"]["name"] in (bundle_config.exporter.gpu_job, bundle_config.exporter.cluster_job)


def test_gpu_service_monitor_puts_the_node_name_in_the_node_label(bundle_config: BundleConfig) -> None:
    endpoint = gpu.objects(bundle_config)["gpu-servicemonitor.yaml"]["spec"]["endpoints"][0]
    assert endpoint["relabelings"] == [
        {"action": "replace", "sourceLabels": ["__meta_kubernetes_pod_node_name"], "targetLabel": "node"},
        # the operator's labels for the exporter's own pod would shadow the attribution series' labels
        {"action": "labeldrop", "regex": "namespace|pod|container"},
    ]
    assert endpoint["metricRelabelings"] == [{"action": "labeldrop", "regex": "exported_node"}]
    assert (endpoint["interval"], endpoint["scrapeTimeout"]) == ("15s", "10s")


def test_selectors_labels_and_scrape_settings_come_from_the_config(
    make_config: Callable[[dict[str, Any]], BundleConfig],
) -> None:
    cfg = make_config(
        {
            "naming": {
                "namespace": "gpu-monitoring",
                "selector_labels": {"prometheus": "ml"},
                "node_label": "host",
            },
            "exporter": {
                "port": 9500,
                "scrape_interval": "30s",
                "scrape_timeout": "20s",
                "gpu_runtime_class": "nvidia",
            },
        }
    )
    found = gpu.objects(cfg)
    monitor = found["gpu-servicemonitor.yaml"]
    assert (
        monitor["metadata"]["labels"]["prometheus"] == "ml" and "release" not in monitor["metadata"]["labels"]
    )
    assert monitor["metadata"]["namespace"] == "gpu-monitoring"
    endpoint = monitor["spec"]["endpoints"][0]
    assert (endpoint["interval"], endpoint["scrapeTimeout"]) == ("30s", "20s")
    assert endpoint["relabelings"][0]["targetLabel"] == "host"
    spec = pod_spec(found["gpu-daemonset.yaml"])
    assert spec["runtimeClassName"] == "nvidia"
    assert spec["containers"][0]["args"][0] == "--web.listen-address=:9500"


def test_gpu_daemonset_without_attribution_runs_unprivileged(
    make_config: Callable[[dict[str, Any]], BundleConfig],
) -> None:
    override = {"attribution": {"enabled": False}, "serving": {"collect_on_gpu_nodes": False}}
    spec = pod_spec(gpu.daemonset(make_config(override)))
    assert {"key": "nvidia.com/gpu", "operator": "Exists"} in spec["tolerations"]
    assert spec["nodeSelector"] == {"nvidia.com/gpu.present": "true"}
    assert "runtimeClassName" not in spec
    assert spec["securityContext"]["runAsNonRoot"] is True and spec["securityContext"]["runAsUser"] == 65534
    assert spec["automountServiceAccountToken"] is False
    assert not spec.get("hostPID") and not spec.get("hostNetwork")
    assert [v["name"] for v in spec["volumes"]] == ["tmp"]
    (container,) = spec["containers"]
    assert not any(a.startswith("--collector.attribution") for a in container["args"])
    security = container["securityContext"]
    assert security["readOnlyRootFilesystem"] is True
    assert security["allowPrivilegeEscalation"] is False and security["privileged"] is False
    assert security["capabilities"] == {"drop": ["ALL"]}
    env = {e["name"]: e for e in container["env"]}
    assert env["NODE_NAME"]["valueFrom"] == {"fieldRef": {"fieldPath": "spec.nodeName"}}
    assert env["NVIDIA_VISIBLE_DEVICES"]["value"] == "all"
    assert env["NVIDIA_DRIVER_CAPABILITIES"]["value"] == "utility"
    assert container["resources"] == {
        "requests": {"cpu": "10m", "memory": "64Mi"},
        "limits": {"memory": "128Mi"},
    }
    assert container["readinessProbe"]["httpGet"] == {"path": "/health", "port": "metrics"}
    assert container["livenessProbe"]["httpGet"]["port"] == "metrics"


def test_cluster_service_monitor_leaves_endpoint_to_the_mlflow_series(bundle_config: BundleConfig) -> None:
    endpoint = cluster.objects(bundle_config)["cluster-servicemonitor.yaml"]["spec"]["endpoints"][0]
    # the operator's `endpoint` (the port name) would rename the REST call's label to exported_endpoint
    assert endpoint["relabelings"] == [{"action": "labeldrop", "regex": "endpoint"}]


def test_gpu_service_is_headless_and_keeps_unready_exporters_scraped(bundle_config: BundleConfig) -> None:
    spec = gpu.objects(bundle_config)["gpu-service.yaml"]["spec"]
    assert spec["clusterIP"] == "None" and spec["publishNotReadyAddresses"] is True


def test_cluster_deployment_is_one_replica_without_the_gpu_collector(bundle_config: BundleConfig) -> None:
    deployment = cluster.deployment(bundle_config)
    assert deployment["spec"]["replicas"] == 1
    args = pod_spec(deployment)["containers"][0]["args"]
    assert args[:3] == ["--web.listen-address=:9847", "--no-collector.gpu", "--collector.mlflow"]
    # the exporter reads exactly the drift and quality keys the bundle's alerts and dashboards judge
    assert [a for a in args if a.startswith("--mlflow.drift-metric=")] == [
        f"--mlflow.drift-metric={key}" for key in ("psi", "jensen_shannon", "wasserstein", "p_value")
    ]
    assert "--mlflow.quality-metric=log_loss" in args
    (container,) = pod_spec(deployment)["containers"]
    assert container["env"] == [
        {"name": "MLFLOW_TRACKING_URI", "value": "http://mlflow.mlflow.svc.cluster.local:5000"}
    ]
    assert "envFrom" not in container


def test_mlflow_credentials_come_from_the_configured_secret(
    make_config: Callable[[dict[str, Any]], BundleConfig],
) -> None:
    cfg = make_config({"exporter": {"mlflow_credentials_secret": "mlflow-reader"}})
    (container,) = pod_spec(cluster.deployment(cfg))["containers"]
    assert container["envFrom"] == [{"secretRef": {"name": "mlflow-reader"}}]


@pytest.mark.parametrize(
    ("workload", "enabled", "disabled"),
    [(gpu.daemonset, "gpu", "mlflow"), (cluster.deployment, "mlflow", "gpu")],
)
def test_container_args_are_accepted_by_the_exporter(
    bundle_config: BundleConfig,
    workload: Callable[[BundleConfig], dict[str, Any]],
    enabled: str,
    disabled: str,
) -> None:
    (container,) = pod_spec(workload(bundle_config))["containers"]
    # The environment the pod gets: literal values, and the downward API's node name.
    environ = {e["name"]: e.get("value", "gpu-node-1") for e in container["env"]}
    settings = parse(container["args"], environ, PLUGINS)
    assert settings.listen_port == bundle_config.exporter.port
    assert enabled in settings.collectors and disabled not in settings.collectors
    if enabled == "gpu":
        assert settings.collectors["gpu"].backend == "nvml"  # never silently simulated GPUs


def test_service_account_holds_no_token(generated: dict[str, dict[str, Any]]) -> None:
    account = generated["serviceaccount.yaml"]
    assert account["automountServiceAccountToken"] is False
    assert all(
        pod_spec(o)["serviceAccountName"] == account["metadata"]["name"]
        for o in generated.values()
        if o["kind"] in ("DaemonSet", "Deployment")
    )


def test_one_dashboard_per_configmap_labelled_for_the_sidecar(
    bundle_config: BundleConfig, generated: dict[str, dict[str, Any]]
) -> None:
    maps = [o for o in generated.values() if o["kind"] == "ConfigMap"]
    uids = ["ml-overview", "ml-serving", "ml-models", "ml-gpu-fleet", "ml-gpu-node"]
    assert [m["metadata"]["name"] for m in maps] == [f"mlobs-dashboard-{uid}" for uid in uids]
    for uid, configmap_ in zip(uids, maps, strict=True):
        assert configmap_["metadata"]["labels"]["grafana_dashboard"] == "1"
        assert list(configmap_["data"]) == [f"{uid}.json"]
        assert json.loads(configmap_["data"][f"{uid}.json"])["uid"] == uid
        # Headroom under the limit for site configs that add rows (per-process attribution, more metrics).
        assert len(yaml.safe_dump(configmap_).encode()) < 0.6 * MAX_CONFIGMAP_BYTES


def test_an_oversized_dashboard_is_refused(bundle_config: BundleConfig) -> None:
    huge = {
        "uid": "huge",
        "panels": [{"description": "x" * 1024} for _ in range(MAX_CONFIGMAP_BYTES // 1024)],
    }
    with pytest.raises(ConfigMapTooLarge, match=r"dashboard huge: its ConfigMap is \d+ bytes, over 262144"):
        configmap(bundle_config, huge)

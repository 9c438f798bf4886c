"""The GPU DaemonSet per `attribution:` setting: flags the real parser accepts, the socket mount, the user,
hostPID and RBAC only where needed, every object valid for Kubernetes' models."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from bundle.config import BundleConfigError
from bundle.schema import BundleConfig
from exporter.attribution.podresources import DEFAULT_RESOURCES, DEFAULT_SOCKET
from exporter.plugins import PLUGINS
from exporter.settings import ConfigError, Settings, parse
from servicemonitors import gpu, objects
from tests.fixtures_bundle import pod_spec, round_trip

MakeConfig = Callable[[dict[str, Any]], BundleConfig]

# (enabled, per_process, kubernetes_api): every combination that means something different.
COMBINATIONS = [
    pytest.param(False, False, True, id="off"),
    pytest.param(True, False, True, id="allocations"),
    pytest.param(True, True, True, id="per-process-with-api"),
    pytest.param(True, True, False, id="per-process-without-api"),
]


def attribution_config(make_config: MakeConfig, enabled: bool, per_process: bool, api: bool) -> BundleConfig:
    override = {"enabled": enabled, "per_process": per_process, "kubernetes_api": api}
    # Without TF Serving discovery, which needs the API token and pod reader by itself.
    return make_config({"attribution": override, "serving": {"collect_on_gpu_nodes": False}})


def exporter_settings(daemonset: dict[str, Any]) -> Settings:
    """What the exporter makes of the container's args in the environment the pod gets."""
    (container,) = pod_spec(daemonset)["containers"]
    # Literal values, and the downward API's node name.
    environ = {e["name"]: e.get("value", "gpu-node-1") for e in container["env"]}
    return parse(container["args"], environ, PLUGINS)


@pytest.mark.parametrize(("enabled", "per_process", "api"), COMBINATIONS)
def test_daemonset_survives_the_kubernetes_models(
    make_config: MakeConfig, enabled: bool, per_process: bool, api: bool
) -> None:
    daemonset = gpu.daemonset(attribution_config(make_config, enabled, per_process, api))
    assert round_trip(daemonset) == daemonset


@pytest.mark.parametrize(("enabled", "per_process", "api"), COMBINATIONS)
def test_the_exporter_parses_the_container_args_into_the_chosen_attribution(
    make_config: MakeConfig, enabled: bool, per_process: bool, api: bool
) -> None:
    settings = exporter_settings(gpu.daemonset(attribution_config(make_config, enabled, per_process, api)))
    assert settings.collectors["gpu"].backend == "nvml"
    if not enabled:
        assert "attribution" not in settings.collectors
        return
    chosen = settings.collectors["attribution"]
    assert chosen.socket_path == DEFAULT_SOCKET
    assert chosen.resources == DEFAULT_RESOURCES
    assert chosen.processes is per_process
    assert chosen.kubernetes_api is (per_process and api)
    assert chosen.node_name == "gpu-node-1"


@pytest.mark.parametrize(("enabled", "per_process", "api"), COMBINATIONS)
def test_privileges_follow_the_setting(
    make_config: MakeConfig, enabled: bool, per_process: bool, api: bool
) -> None:
    spec = pod_spec(gpu.daemonset(attribution_config(make_config, enabled, per_process, api)))
    (container,) = spec["containers"]
    # Root only for the socket's owner check: never privileged, no capabilities, nothing to escalate to.
    assert spec["securityContext"]["runAsUser"] == (0 if enabled else 65534)
    assert spec["securityContext"]["runAsNonRoot"] is not enabled
    assert container["securityContext"] == {
        "allowPrivilegeEscalation": False,
        "privileged": False,
        "readOnlyRootFilesystem": True,
        "capabilities": {"drop": ["ALL"]},
    }
    assert spec.get("hostPID", False) is per_process
    assert not spec.get("hostNetwork") and not spec.get("hostIPC")
    assert spec["automountServiceAccountToken"] is (per_process and api)


@pytest.mark.parametrize(("enabled", "per_process", "api"), COMBINATIONS)
def test_the_socket_directory_is_mounted_read_only_only_when_enabled(
    make_config: MakeConfig, enabled: bool, per_process: bool, api: bool
) -> None:
    spec = pod_spec(gpu.daemonset(attribution_config(make_config, enabled, per_process, api)))
    mounts = {m["name"]: m for m in spec["containers"][0]["volumeMounts"]}
    volumes = {v["name"]: v for v in spec["volumes"]}
    if not enabled:
        assert "pod-resources" not in mounts and "pod-resources" not in volumes
        return
    assert mounts["pod-resources"] == {
        "name": "pod-resources",
        "mountPath": "/var/lib/kubelet/pod-resources",
        "readOnly": True,
    }
    assert volumes["pod-resources"]["hostPath"] == {
        "path": "/var/lib/kubelet/pod-resources",
        "type": "DirectoryOrCreate",
    }


@pytest.mark.parametrize(("enabled", "per_process", "api"), COMBINATIONS)
def test_pod_reader_rbac_exists_only_when_the_exporter_calls_the_api(
    make_config: MakeConfig, enabled: bool, per_process: bool, api: bool
) -> None:
    cfg = attribution_config(make_config, enabled, per_process, api)
    rbac = {o["kind"]: o for o in gpu.objects(cfg).values() if o["kind"].startswith("ClusterRole")}
    if not (per_process and api):
        assert rbac == {}
        return
    role, binding = rbac["ClusterRole"], rbac["ClusterRoleBinding"]
    assert round_trip(role) == role and round_trip(binding) == binding
    assert "namespace" not in role["metadata"]
    assert role["rules"] == [{"apiGroups": [""], "resources": ["pods"], "verbs": ["list"]}]
    assert binding["roleRef"] == {
        "apiGroup": "rbac.authorization.k8s.io",
        "kind": "ClusterRole",
        "name": role["metadata"]["name"],
    }
    daemonset_spec = pod_spec(gpu.daemonset(cfg))
    assert binding["subjects"] == [
        {"kind": "ServiceAccount", "name": daemonset_spec["serviceAccountName"], "namespace": "monitoring"}
    ]


def test_cluster_scoped_names_carry_the_namespace(make_config: MakeConfig) -> None:
    cfg = make_config(
        {"naming": {"namespace": "gpu-mon"}, "attribution": {"per_process": True, "kubernetes_api": True}}
    )
    names = {o["metadata"]["name"] for o in gpu.objects(cfg).values() if o["kind"].startswith("ClusterRole")}
    assert names == {"mlobs-exporter-pod-reader-gpu-mon"}


def test_kubelet_directory_and_resources_come_from_the_config(make_config: MakeConfig) -> None:
    cfg = make_config(
        {
            "attribution": {
                "pod_resources_dir": "/var/lib/k0s/kubelet/pod-resources",
                "resources": ["nvidia.com/gpu", "example.com/mig-*"],
            }
        }
    )
    daemonset = gpu.daemonset(cfg)
    (volume,) = [v for v in pod_spec(daemonset)["volumes"] if v["name"] == "pod-resources"]
    assert volume["hostPath"]["path"] == "/var/lib/k0s/kubelet/pod-resources"
    # Mounted where the exporter looks by default, whatever the node's path.
    assert exporter_settings(daemonset).collectors["attribution"].socket_path == DEFAULT_SOCKET
    assert exporter_settings(daemonset).collectors["attribution"].resources == (
        "nvidia.com/gpu",
        "example.com/mig-*",
    )


def test_the_flag_check_can_fail(make_config: MakeConfig) -> None:
    daemonset = gpu.daemonset(make_config({"attribution": {"per_process": True}}))
    (container,) = pod_spec(daemonset)["containers"]
    container["env"] = [e for e in container["env"] if e["name"] != "NODE_NAME"]
    with pytest.raises(ConfigError, match="needs NODE_NAME"):
        exporter_settings(daemonset)


def test_all_objects_include_the_rbac_with_per_process(make_config: MakeConfig) -> None:
    cfg = make_config({"attribution": {"per_process": True}})
    found = objects(cfg, [])
    assert {"gpu-clusterrole.yaml", "gpu-clusterrolebinding.yaml"} <= set(found)


@pytest.mark.parametrize(
    ("override", "problem"),
    [
        ({"pod_resources_dir": "var/lib/kubelet"}, "attribution.pod_resources_dir: must be an absolute"),
        ({"pod_resources_dir": "/"}, "attribution.pod_resources_dir: must be an absolute"),
        ({"pod_resources_dir": "/var/../etc"}, "attribution.pod_resources_dir: must be an absolute"),
        ({"resources": []}, "attribution.resources: must be a non-empty list"),
        ({"resources": ["gpu"]}, "attribution.resources: must be a non-empty list"),
        ({"resources": ["nvidia.com/gpu x"]}, "attribution.resources: must be a non-empty list"),
        ({"enabled": False, "per_process": True}, "attribution.per_process: needs attribution.enabled"),
        ({"per_process": "yes"}, "attribution.per_process: must be bool"),
    ],
)
def test_bad_attribution_settings_are_named(
    make_config: MakeConfig, override: dict[str, Any], problem: str
) -> None:
    with pytest.raises(BundleConfigError, match=problem.replace(".", r"\.")):
        make_config({"attribution": override})

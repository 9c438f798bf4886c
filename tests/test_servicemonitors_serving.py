"""TF Serving on the GPU DaemonSet (serving.collect_on_gpu_nodes): node-local discovery the exporter accepts,
an API token, and the pod reader bound to the exporter's service account."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from bundle.generate import main
from bundle.schema import BundleConfig
from exporter.plugins import PLUGINS
from exporter.settings import Settings, parse
from servicemonitors import gpu
from tests.fixtures_bundle import load_kubectl_output, pod_spec, round_trip, run_tool, tool

MakeConfig = Callable[[dict[str, Any]], BundleConfig]


def exporter_settings(daemonset: dict[str, Any]) -> Settings:
    (container,) = pod_spec(daemonset)["containers"]
    # Literal values, and the downward API's node name.
    environ = {e["name"]: e.get("value", "gpu-node-1") for e in container["env"]}
    return parse(container["args"], environ, PLUGINS)


def test_gpu_exporter_discovers_the_nodes_serving_pods_by_default(bundle_config: BundleConfig) -> None:
    daemonset = gpu.daemonset(bundle_config)
    kube = exporter_settings(daemonset).collectors["tfserving"].kubernetes
    assert kube.enabled
    assert kube.label_selector == bundle_config.serving.discovery_label_selector == "app=tf-serving"
    assert kube.namespace == ""
    spec = pod_spec(daemonset)
    assert spec["automountServiceAccountToken"] is True
    (container,) = spec["containers"]
    node_env = next(e for e in container["env"] if e["name"] == "NODE_NAME")
    assert node_env["valueFrom"] == {"fieldRef": {"fieldPath": "spec.nodeName"}}
    assert round_trip(daemonset) == daemonset


def test_selector_and_namespace_come_from_the_config(make_config: MakeConfig) -> None:
    serving = {"discovery_label_selector": "app in (tfs, tfs-gpu)", "discovery_namespace": "models"}
    kube = (
        exporter_settings(gpu.daemonset(make_config({"serving": serving}))).collectors["tfserving"].kubernetes
    )
    assert (kube.label_selector, kube.namespace) == ("app in (tfs, tfs-gpu)", "models")


def test_serving_off_the_gpu_nodes_leaves_no_collector_token_or_role(make_config: MakeConfig) -> None:
    cfg = make_config({"serving": {"collect_on_gpu_nodes": False}, "attribution": {"per_process": False}})
    assert "tfserving" not in exporter_settings(gpu.daemonset(cfg)).collectors
    assert pod_spec(gpu.daemonset(cfg))["automountServiceAccountToken"] is False
    assert not [o for o in gpu.objects(cfg).values() if o["kind"].startswith("ClusterRole")]


def test_flags_win_over_the_config_file(tmp_path: Path) -> None:
    config = tmp_path / "exporter.yaml"
    kube_section = {"enabled": False, "label_selector": "app=old", "namespace": "old"}
    config.write_text(yaml.safe_dump({"tfserving": {"kubernetes": kube_section}}))
    argv = [
        f"--config.file={config}",
        "--collector.tfserving",
        "--tfserving.kubernetes",
        "--tfserving.kubernetes.label-selector=app=new",
        "--tfserving.kubernetes.namespace=new",
    ]
    kube = parse(argv, {"NODE_NAME": "n1"}, PLUGINS).collectors["tfserving"].kubernetes
    assert (kube.enabled, kube.label_selector, kube.namespace) == (True, "app=new", "new")


@pytest.mark.slow
def test_kustomize_binds_the_pod_reader_to_the_gpu_exporters_account(tmp_path: Path) -> None:
    out = tmp_path / "build"
    assert main(["--out", str(out)]) == 0
    rendered = run_tool([tool("kubectl"), "kustomize", str(out / "kubernetes")])
    assert rendered.returncode == 0, rendered.stderr
    docs = {d["kind"]: d for d in load_kubectl_output(rendered.stdout)}
    role, binding = docs["ClusterRole"], docs["ClusterRoleBinding"]
    assert role["rules"] == [{"apiGroups": [""], "resources": ["pods"], "verbs": ["list"]}]
    assert binding["roleRef"]["name"] == role["metadata"]["name"]
    spec = pod_spec(docs["DaemonSet"])
    assert binding["subjects"] == [
        {"kind": "ServiceAccount", "name": spec["serviceAccountName"], "namespace": "monitoring"}
    ]
    assert docs["ServiceAccount"]["metadata"]["name"] == spec["serviceAccountName"]

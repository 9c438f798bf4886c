"""`python -m bundle.generate` end to end: its bundle passes the real tools; a bad config writes nothing."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from bundle.generate import main
from dashboards.lint import lint as lint_dashboard
from tests.fixtures_bundle import load_kubectl_output, run_tool, tool

ROOT = Path(__file__).resolve().parent.parent
EXPECTED = {
    "prometheus/rules.yaml",
    *(
        f"dashboards/{uid}.json"
        for uid in ("ml-overview", "ml-serving", "ml-models", "ml-gpu-fleet", "ml-gpu-node")
    ),
    "alertmanager/alertmanager.yaml",
    "autoscaling/prometheus-adapter-rules.yaml",
    "autoscaling/hpa-example.yaml",
    *(
        f"kubernetes/{name}"
        for name in (
            "kustomization.yaml",
            "prometheusrule.yaml",
            "serviceaccount.yaml",
            "gpu-daemonset.yaml",
            "gpu-service.yaml",
            "gpu-servicemonitor.yaml",
            "cluster-deployment.yaml",
            "cluster-service.yaml",
            "cluster-servicemonitor.yaml",
            "dashboard-ml-overview.yaml",
            "dashboard-ml-serving.yaml",
            "dashboard-ml-models.yaml",
            "dashboard-ml-gpu-fleet.yaml",
            "dashboard-ml-gpu-node.yaml",
            # TF Serving discovery on the GPU nodes (serving.collect_on_gpu_nodes) lists pods.
            "gpu-clusterrole.yaml",
            "gpu-clusterrolebinding.yaml",
            "alertmanagerconfig.yaml",
        )
    ),
}


def files(root: Path) -> set[str]:
    return {str(p.relative_to(root)) for p in root.rglob("*") if p.is_file()}


@pytest.fixture(scope="module")
def bundle(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("generate") / "build"
    assert main(["--out", str(out)]) == 0
    return out


def test_writes_the_whole_bundle(bundle: Path) -> None:
    assert files(bundle) == EXPECTED


def test_promtool_accepts_the_written_rules(bundle: Path) -> None:
    result = run_tool([tool("promtool"), "check", "rules", str(bundle / "prometheus" / "rules.yaml")])
    assert result.returncode == 0, result.stdout + result.stderr


def test_kustomize_builds_the_kubernetes_folder(bundle: Path) -> None:
    result = run_tool([tool("kubectl"), "kustomize", str(bundle / "kubernetes")])
    assert result.returncode == 0, result.stderr
    kinds = sorted(doc["kind"] for doc in load_kubectl_output(result.stdout))
    assert kinds == sorted(
        [
            *["ConfigMap"] * 5,
            "AlertmanagerConfig",
            "ClusterRole",
            "ClusterRoleBinding",
            "DaemonSet",
            "Deployment",
            "PrometheusRule",
            "Service",
            "Service",
            "ServiceAccount",
            "ServiceMonitor",
            "ServiceMonitor",
        ]
    )


def test_prometheus_rule_wraps_exactly_the_plain_rule_file(bundle: Path) -> None:
    plain = yaml.safe_load((bundle / "prometheus" / "rules.yaml").read_text())
    wrapped = yaml.safe_load((bundle / "kubernetes" / "prometheusrule.yaml").read_text())
    assert wrapped["spec"] == plain


def test_dashboard_file_is_clean_and_matches_its_configmap(bundle: Path) -> None:
    text = (bundle / "dashboards" / "ml-overview.json").read_text()
    assert lint_dashboard(json.loads(text)) == []
    configmap = yaml.safe_load((bundle / "kubernetes" / "dashboard-ml-overview.yaml").read_text())
    assert configmap["data"]["ml-overview.json"] == text


def test_output_is_deterministic(bundle: Path, tmp_path: Path) -> None:
    assert main(["--out", str(tmp_path / "again")]) == 0
    for name in EXPECTED:
        assert (tmp_path / "again" / name).read_bytes() == (bundle / name).read_bytes(), name


def test_regenerating_replaces_stale_output_and_keeps_other_folders(tmp_path: Path) -> None:
    out = tmp_path / "build"
    (out / "kubernetes").mkdir(parents=True)
    (out / "kubernetes" / "removed-object.yaml").write_text("stale")
    (out / "bench").mkdir()
    (out / "bench" / "results.txt").write_text("keep me")
    assert main(["--out", str(out)]) == 0
    assert not (out / "kubernetes" / "removed-object.yaml").exists()
    assert (out / "bench" / "results.txt").read_text() == "keep me"
    assert [p.name for p in tmp_path.iterdir()] == ["build"]  # no staging folder left behind


def test_a_bad_config_exits_2_with_one_line_and_writes_nothing(tmp_path: Path) -> None:
    config = tmp_path / "bad.yaml"
    config.write_text("gpu:\n  temperature_critical_celsius: 70\n")
    out = tmp_path / "build"
    (out / "prometheus").mkdir(parents=True)
    (out / "prometheus" / "rules.yaml").write_text("previous")
    result = subprocess.run(
        [sys.executable, "-m", "bundle.generate", "--out", str(out), "--config", str(config)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        cwd=ROOT,
    )
    assert result.returncode == 2
    assert result.stdout == ""
    assert result.stderr.count("\n") == 1
    assert "gpu.temperature_warning_celsius: must be below gpu.temperature_critical_celsius" in result.stderr
    assert files(out) == {"prometheus/rules.yaml"}
    assert (out / "prometheus" / "rules.yaml").read_text() == "previous"


def test_a_config_override_reaches_every_output(tmp_path: Path) -> None:
    config = tmp_path / "site.yaml"
    config.write_text(
        yaml.safe_dump(
            {
                "naming": {"namespace": "ml-monitoring", "selector_labels": {"prometheus": "ml"}},
                "dashboards": {"overview_uid": "ml-home", "gpu_node_uid": "ml-gpu-host"},
            }
        )
    )
    out = tmp_path / "build"
    assert main(["--out", str(out), "--config", str(config)]) == 0
    assert (out / "dashboards" / "ml-home.json").exists()
    rendered = run_tool([tool("kubectl"), "kustomize", str(out / "kubernetes")])
    docs = list(load_kubectl_output(rendered.stdout))
    namespaced = [d for d in docs if not d["kind"].startswith("ClusterRole")]
    assert {d["metadata"]["namespace"] for d in namespaced} == {"ml-monitoring"}
    selected = [d for d in docs if d["kind"] in ("PrometheusRule", "ServiceMonitor")]
    assert all(d["metadata"]["labels"]["prometheus"] == "ml" for d in selected)
    rules = (out / "prometheus" / "rules.yaml").read_text()
    assert "https://grafana.example.internal/d/ml-gpu-host" in rules  # the GPU alerts' dashboard


def test_per_process_attribution_adds_the_pod_reader_to_the_kustomization(tmp_path: Path) -> None:
    config = tmp_path / "site.yaml"
    config.write_text("attribution: {per_process: true}\nserving: {collect_on_gpu_nodes: false}\n")
    out = tmp_path / "build"
    assert main(["--out", str(out), "--config", str(config)]) == 0
    assert "kubernetes/gpu-clusterrole.yaml" in files(out)
    assert "kubernetes/gpu-clusterrolebinding.yaml" in files(out)
    rendered = run_tool([tool("kubectl"), "kustomize", str(out / "kubernetes")])
    assert rendered.returncode == 0, rendered.stderr
    docs = {d["kind"]: d for d in load_kubectl_output(rendered.stdout)}
    assert docs["ClusterRoleBinding"]["roleRef"]["name"] == docs["ClusterRole"]["metadata"]["name"]
    assert docs["DaemonSet"]["spec"]["template"]["spec"]["hostPID"] is True


def test_a_cluster_label_reaches_every_join_of_the_bundle(tmp_path: Path) -> None:
    config = tmp_path / "global.yaml"
    config.write_text("naming: {cluster_label: cluster}\n", encoding="utf-8")
    assert main(["--out", str(tmp_path / "out"), "--config", str(config)]) == 0
    adapter = (tmp_path / "out" / "autoscaling" / "prometheus-adapter-rules.yaml").read_text(encoding="utf-8")
    assert "on (cluster, uuid)" in adapter
    rules = (tmp_path / "out" / "prometheus" / "rules.yaml").read_text(encoding="utf-8")
    assert (
        run_tool(
            [tool("promtool"), "check", "rules", str(tmp_path / "out" / "prometheus" / "rules.yaml")]
        ).returncode
        == 0
    )
    assert "by (cluster" in rules

"""Kubernetes discovery: TF Serving pods on this node, listed by the real client from a fake API server."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from exporter.kube.fake_api import FakeKubeAPI, api_client, pod
from exporter.kube.pods import DiscoveryError, PodLister
from exporter.tfserving.discovery import KubernetesSettings, PodTargets, annotation_models
from exporter.tfserving.plugin import TFServingPlugin
from tests.fixtures_tfserving import SimFactory
from tests.helpers import promtool_check_metrics, running_exporter, scrape, value

SERVING = {"app": "tf-serving"}
ANNOTATION = "mlobs.io/tfserving-models"


def _lister(
    fake: FakeKubeAPI, node: str = "gpu-1", selector: str = "app=tf-serving", namespace: str = ""
) -> PodLister:
    return PodLister(lambda: api_client(fake.url), node, selector, namespace, timeout=5)


def test_the_api_server_filters_by_node_and_labels(kube_api: FakeKubeAPI) -> None:
    kube_api.pods = [
        pod("tfs-0", "gpu-1", "10.1.0.5", labels=SERVING, ports={"http": 8501, "grpc": 8500}),
        pod("tfs-1", "gpu-2", "10.1.0.6", labels=SERVING, ports={"http": 8501}),
        pod("web-0", "gpu-1", "10.1.0.7", labels={"app": "web"}, ports={"http": 80}),
    ]
    pods = _lister(kube_api).list_pods()
    assert [(p.namespace, p.name, p.node, p.ip, dict(p.ports)) for p in pods] == [
        ("serving", "tfs-0", "gpu-1", "10.1.0.5", {"http": 8501, "grpc": 8500})
    ]
    assert pods[0].uid == kube_api.pods[0]["metadata"]["uid"]
    (request,) = kube_api.requests
    assert request.startswith("/api/v1/pods?") and "fieldSelector=spec.nodeName%3Dgpu-1" in request


def test_namespaced_listing(kube_api: FakeKubeAPI) -> None:
    kube_api.pods = [
        pod("a", "gpu-1", "10.1.0.5", namespace="ml", labels=SERVING),
        pod("b", "gpu-1", "10.1.0.6", namespace="other", labels=SERVING),
    ]
    assert [p.name for p in _lister(kube_api, namespace="ml").list_pods()] == ["a"]
    assert kube_api.requests[-1].startswith("/api/v1/namespaces/ml/pods?")


def test_api_errors_become_one_line_discovery_errors(kube_api: FakeKubeAPI) -> None:
    kube_api.fail_with = 500
    with pytest.raises(DiscoveryError, match="HTTP 500"):
        _lister(kube_api).list_pods()
    kube_api.fail_with = None
    with pytest.raises(DiscoveryError, match="HTTP 400"):
        _lister(kube_api, selector="app in (a").list_pods()


def test_fake_applies_selectors_like_the_api_server() -> None:
    fake = FakeKubeAPI(
        [
            pod("a", "n1", "10.0.0.1", labels={"app": "tfs", "tier": "gpu"}),
            pod("b", "n2", "10.0.0.2", labels={"app": "tfs"}, phase="Pending"),
        ]
    )

    def names(query: str) -> list[str]:
        code, body = fake.respond("/api/v1/pods?" + query)
        assert code == 200, body
        return [item["metadata"]["name"] for item in body["items"]]

    assert names("labelSelector=app%3Dtfs%2Ctier") == ["a"]
    assert names("labelSelector=tier+notin+%28gpu%29") == ["b"]
    assert names("labelSelector=%21tier%2Capp+in+%28tfs%2Cx%29") == ["b"]
    assert names("fieldSelector=status.phase%21%3DRunning") == ["b"]
    assert names("fieldSelector=spec.nodeName%3D%3Dn1") == ["a"]
    code, body = fake.respond("/api/v1/pods?fieldSelector=spec.hostname%3Dx")
    assert code == 400 and body["message"] == "field label not supported: spec.hostname"


def _targets(fake: FakeKubeAPI, clock: list[float], **settings: object) -> PodTargets:
    return PodTargets(
        _lister(fake),
        KubernetesSettings(enabled=True, refresh_interval=30, **settings),  # type: ignore[arg-type]
        clock=lambda: clock[0],
    )


def test_running_pods_with_the_port_become_targets(kube_api: FakeKubeAPI) -> None:
    kube_api.pods = [
        pod(
            "tfs-0",
            "gpu-1",
            "10.1.0.5",
            labels=SERVING,
            ports={"http": 8501},
            annotations={ANNOTATION: "bert, resnet  bad/name"},
        ),
        pod("tfs-1", "gpu-1", "fd00::7", labels=SERVING, ports={"rest": 8501, "http": 9000}),
        pod("tfs-2", "gpu-1", "", labels=SERVING, ports={"http": 8501}, phase="Pending"),
        pod("tfs-3", "gpu-1", "10.1.0.9", labels=SERVING, ports={"grpc": 8500}),
    ]
    targets = _targets(kube_api, [0.0]).targets()
    assert [(t.url, t.pod, t.models) for t in targets] == [
        ("http://10.1.0.5:8501", "tfs-0", ("bert", "resnet")),
        ("http://[fd00::7]:9000", "tfs-1", ()),
    ]


def test_listing_is_cached_and_the_last_good_one_kept(kube_api: FakeKubeAPI) -> None:
    kube_api.pods = [pod("tfs-0", "gpu-1", "10.1.0.5", labels=SERVING, ports={"http": 8501})]
    clock = [100.0]
    discovery = _targets(kube_api, clock)
    assert len(discovery.targets()) == 1 and discovery.success
    clock[0] += 29
    discovery.targets()
    assert len(kube_api.requests) == 1
    kube_api.fail_with = 503
    clock[0] += 1
    assert len(discovery.targets()) == 1 and not discovery.success
    assert len(kube_api.requests) == 2


def test_annotation_models() -> None:
    assert annotation_models("bert,resnet\nsq:ueeze  ") == ("bert", "resnet")


def test_discovered_pods_are_scraped_and_named_for_attribution(
    make_sim: SimFactory, kube_api: FakeKubeAPI, tmp_path: Path
) -> None:
    sim = make_sim()
    kube_api.pods = [
        pod(
            "bert-0",
            "gpu-1",
            "127.0.0.1",
            namespace="ml",
            labels=SERVING,
            ports={"http": sim.port},
            annotations={ANNOTATION: "bert"},
        ),
        pod("bert-1", "gpu-2", "127.0.0.1", namespace="ml", labels=SERVING, ports={"http": sim.port}),
    ]
    config = tmp_path / "config.yaml"
    config.write_text(
        yaml.safe_dump({"tfserving": {"kubernetes": {"enabled": True, "label_selector": "app=tf-serving"}}})
    )
    plugin = TFServingPlugin(kube_api_client=lambda: api_client(kube_api.url))
    argv = ["--collector.tfserving", f"--config.file={config}"]
    with running_exporter(argv, [plugin], environ={"NODE_NAME": "gpu-1"}) as exporter:
        body = scrape(exporter)
        (collector,) = plugin_collectors(exporter)
        pods = collector.serving_pods()
    assert promtool_check_metrics(body) == ""
    assert value(body, "tfserving_kubernetes_discovery_success") == 1
    assert value(body, "tfserving_kubernetes_discovered_targets") == 1
    assert (
        value(body, "tfserving_requests_total", namespace="ml", pod="bert-0", model="bert", status="OK")
        is not None
    )
    assert value(body, "tfserving_target_scrape_success", pod="bert-0") == 1
    assert [(p.namespace, p.pod, p.node, p.models) for p in pods] == [
        ("ml", "bert-0", "gpu-1", ("bert", "resnet"))
    ]
    assert pods[0].pod_uid == kube_api.pods[0]["metadata"]["uid"]


def plugin_collectors(exporter: object) -> list[object]:
    return [c for c in exporter.root.collectors if c.name == "tfserving"]  # type: ignore[attr-defined]


def test_failed_discovery_is_a_series_not_a_failed_scrape(kube_api: FakeKubeAPI, tmp_path: Path) -> None:
    kube_api.fail_with = 500
    config = tmp_path / "config.yaml"
    config.write_text(yaml.safe_dump({"tfserving": {"kubernetes": {"enabled": True}}}))
    plugin = TFServingPlugin(kube_api_client=lambda: api_client(kube_api.url))
    argv = ["--collector.tfserving", f"--config.file={config}"]
    with running_exporter(argv, [plugin], environ={"NODE_NAME": "gpu-1"}) as exporter:
        body = scrape(exporter)
    assert value(body, "tfserving_kubernetes_discovery_success") == 0
    assert value(body, "mlobs_collector_success", collector="tfserving") == 0

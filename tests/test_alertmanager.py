"""Alertmanager routing from the bundle config: amtool accepts it, each severity reaches its receiver, causes
silence their symptoms in a real Alertmanager, and the AlertmanagerConfig says the same in camelCase."""

from __future__ import annotations

import contextlib
import json
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
import yaml

from bundle.output import dump_yaml
from bundle.schema import BundleConfig
from bundle.shipping import load_shipping
from servicemonitors.alertmanager import config, routing
from servicemonitors.alertmanager_config import alertmanager_config
from tests.fixtures_bundle import run_tool, running_server, tool, wait_for
from tests.helpers import free_port, http_get

MakeConfig = Callable[[dict[str, Any]], BundleConfig]


def write(folder: Path, cfg: BundleConfig, **alertmanager: str) -> Path:
    am = load_shipping().alertmanager
    if alertmanager:
        am = replace(am, **alertmanager)
    path = folder / "alertmanager.yaml"
    path.write_text(dump_yaml(config(cfg, am)))
    return path


def receivers(path: Path, **labels: str) -> list[str]:
    argv = [tool("amtool"), "config", "routes", "test", f"--config.file={path}"]
    result = run_tool([*argv, *(f"{k}={v}" for k, v in labels.items())])
    assert result.returncode == 0, result.stderr
    return result.stdout.split()[-1].split(",")


def test_amtool_accepts_the_config(tmp_path: Path, bundle_config: BundleConfig) -> None:
    result = run_tool([tool("amtool"), "check-config", str(write(tmp_path, bundle_config))])
    assert result.returncode == 0, result.stdout + result.stderr
    assert "6 inhibit rules" in result.stdout


@pytest.mark.parametrize(
    ("labels", "receiver"),
    [
        ({"alertname": "MLObsGpuLost", "severity": "critical", "node": "n1"}, "pager"),
        ({"alertname": "MLObsServingLatencyHigh", "severity": "warning", "model": "bert"}, "ticket"),
        ({"alertname": "MLObsGpuFakeData", "severity": "info"}, "null"),
        ({"alertname": "Watchdog"}, "null"),
    ],
    ids=["critical-pages", "warning-tickets", "info-nowhere", "no-severity-nowhere"],
)
def test_each_severity_reaches_its_receiver(
    tmp_path: Path, bundle_config: BundleConfig, labels: dict[str, str], receiver: str
) -> None:
    assert receivers(write(tmp_path, bundle_config), **labels) == [receiver]


def test_info_reaches_its_webhook_when_one_is_set(tmp_path: Path, bundle_config: BundleConfig) -> None:
    path = write(tmp_path, bundle_config, info_url="https://chat.example.internal/hooks/mlobs")
    assert receivers(path, alertname="MLObsGpuFakeData", severity="info") == ["info"]


def test_groups_per_alert_and_model_or_node_with_the_cluster(make_config: MakeConfig) -> None:
    cfg = make_config({"naming": {"cluster_label": "k8s_cluster", "node_label": "kubernetes_node"}})
    r = routing(cfg, load_shipping().alertmanager)
    assert r.group_by == ("k8s_cluster", "alertname", "model", "kubernetes_node")
    assert all(i.equal[0] == "k8s_cluster" for i in r.inhibitions)


def test_names_follow_the_alert_prefix(make_config: MakeConfig) -> None:
    text = dump_yaml(config(make_config({"naming": {"alert_prefix": "Acme"}}), load_shipping().alertmanager))
    assert "AcmeGpuLost" in text and "MLObs" not in text


# Inhibitions, in a real Alertmanager.


@contextlib.contextmanager
def running_alertmanager(path: Path) -> Iterator[str]:
    url = f"http://127.0.0.1:{free_port()}"
    argv = [
        tool("prometheus-alertmanager"),
        f"--config.file={path}",
        f"--storage.path={path.parent / 'data'}",
        f"--web.listen-address={url.removeprefix('http://')}",
        "--cluster.listen-address=",
    ]
    with running_server(argv, url, path.parent / "alertmanager.log") as ready:
        yield ready


def post_alerts(url: str, *label_sets: dict[str, str]) -> None:
    body = json.dumps([{"labels": labels} for labels in label_sets]).encode()
    request = urllib.request.Request(
        f"{url}/api/v2/alerts", body, {"Content-Type": "application/json"}, method="POST"
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        assert response.status == 200


def inhibited(url: str, count: int) -> dict[str, bool]:
    """alertname/distinguishing label -> whether the alert is inhibited, once all `count` alerts are in."""
    state: dict[str, bool] = {}

    def read() -> bool:
        _, _, body = http_get(f"{url}/api/v2/alerts")
        alerts = json.loads(body)
        state.clear()
        for a in alerts:
            state[a["labels"]["case"]] = bool(a["status"]["inhibitedBy"])
        return len(alerts) == count

    wait_for(read, 30, f"{count} alerts in Alertmanager")
    return dict(state)


P = "MLObs"
GPU = {"node": "n1", "uuid": "GPU-1", "gpu": "0"}
# (name, cause, symptoms silenced, symptoms kept): each label set includes a `case` label naming it.
CASES: list[tuple[str, dict[str, str], list[dict[str, str]], list[dict[str, str]]]] = [
    (
        "gpu-lost",
        {"alertname": f"{P}GpuLost", "severity": "critical", **GPU},
        [
            {"alertname": f"{P}GpuTemperatureHigh", "severity": "warning", **GPU},
            {
                "alertname": f"{P}ExporterCollectorFailing",
                "severity": "warning",
                "node": "n1",
                "collector": "gpu",
            },
        ],
        [
            {
                "alertname": f"{P}GpuTemperatureHigh",
                "severity": "warning",
                **GPU,
                "uuid": "GPU-2",
                "gpu": "1",
            },
            {"alertname": f"{P}ServingLatencyHigh", "severity": "warning", "node": "n1"},
            {
                "alertname": f"{P}ExporterCollectorFailing",
                "severity": "warning",
                "node": "n2",
                "collector": "gpu",
            },
            {
                "alertname": f"{P}ExporterCollectorFailing",
                "severity": "warning",
                "node": "n1",
                "collector": "mlflow",
            },
        ],
    ),
    (
        "registry",
        {"alertname": f"{P}RegistryUnreachable", "severity": "critical"},
        [
            {"alertname": f"{P}ModelMonitoringStale", "severity": "warning", "model": "bert"},
            {"alertname": f"{P}RegistryBurnFast", "severity": "critical"},
            {"alertname": f"{P}RegistryAliasNotReady", "severity": "warning"},
            {"alertname": f"{P}ExporterCollectorFailing", "severity": "warning", "collector": "mlflow"},
        ],
        [
            {"alertname": f"{P}ModelQualityDegraded", "severity": "warning", "model": "bert"},
            {"alertname": f"{P}ExporterCollectorFailing", "severity": "warning", "collector": "tfserving"},
        ],
    ),
    (
        "exporter",
        {"alertname": f"{P}ExporterAbsent", "severity": "critical", "job": "mlobs-exporter"},
        [{"alertname": f"{P}ExporterCollectorFailing", "severity": "warning", "job": "mlobs-exporter"}],
        [
            {
                "alertname": f"{P}ExporterCollectorFailing",
                "severity": "warning",
                "job": "mlobs-exporter-cluster",
            }
        ],
    ),
    (
        "serving-target",
        {"alertname": f"{P}ServingTargetDown", "severity": "warning", "target": "http://10.0.0.1:8501"},
        [
            {
                "alertname": f"{P}ServingNoAvailableVersion",
                "severity": "critical",
                "target": "http://10.0.0.1:8501",
            }
        ],
        [
            {
                "alertname": f"{P}ServingNoAvailableVersion",
                "severity": "critical",
                "target": "http://10.0.0.2:8501",
            }
        ],
    ),
]


@pytest.mark.slow
@pytest.mark.parametrize(("name", "cause", "silenced", "kept"), CASES, ids=[c[0] for c in CASES])
def test_a_cause_silences_its_symptoms_only(
    tmp_path: Path,
    bundle_config: BundleConfig,
    name: str,
    cause: dict[str, str],
    silenced: list[dict[str, str]],
    kept: list[dict[str, str]],
) -> None:
    with running_alertmanager(write(tmp_path, bundle_config)) as url:
        cases = [
            {**cause, "case": "cause"},
            *({**s, "case": f"silenced-{i}"} for i, s in enumerate(silenced)),
            *({**k, "case": f"kept-{i}"} for i, k in enumerate(kept)),
        ]
        post_alerts(url, *cases)
        state = inhibited(url, len(cases))
    assert state == {c["case"]: c["case"].startswith("silenced") for c in cases}


# The AlertmanagerConfig object.


def _keys(obj: Any) -> Iterator[str]:
    if isinstance(obj, dict):
        for key, value in obj.items():
            yield key
            yield from _keys(value)
    elif isinstance(obj, list):
        for item in obj:
            yield from _keys(item)


def test_alertmanager_config_object_says_the_same_in_camel_case(bundle_config: BundleConfig) -> None:
    am = load_shipping().alertmanager
    obj = alertmanager_config(bundle_config, am)
    plain = config(bundle_config, am)
    assert obj["apiVersion"] == "monitoring.coreos.com/v1alpha1" and obj["kind"] == "AlertmanagerConfig"
    assert obj["metadata"]["namespace"] == bundle_config.naming.namespace
    spec = obj["spec"]
    assert not [k for k in _keys(spec) if "_" in k]
    names = {r["name"] for r in spec["receivers"]}
    route = spec["route"]
    assert route["receiver"] in names and all(r["receiver"] in names for r in route["routes"])
    for matcher in [m for r in route["routes"] for m in r["matchers"]] + [
        m for rule in spec["inhibitRules"] for m in rule["sourceMatch"] + rule["targetMatch"]
    ]:
        assert set(matcher) == {"name", "value", "matchType"}
        assert matcher["matchType"] in ("=", "!=", "=~", "!~")
    # Same routes and inhibitions as the plain file.
    plain_routes = plain["route"]["routes"]  # type: ignore[index]
    assert [
        [f'{m["name"]}{m["matchType"]}"{m["value"]}"' for m in r["matchers"]] for r in route["routes"]
    ] == [r["matchers"] for r in plain_routes]
    assert len(spec["inhibitRules"]) == len(plain["inhibit_rules"])  # type: ignore[arg-type]
    assert route["groupBy"] == plain["route"]["group_by"]  # type: ignore[index]
    yaml.safe_dump(obj)  # plain data only

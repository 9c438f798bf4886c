"""A real Prometheus for the stack: scrape jobs made from the generated ServiceMonitors, the generated rules,
and a small client of its HTTP API."""

from __future__ import annotations

import json
import math
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

import alerts
from alerts.render import plain
from bundle.schema import BundleConfig
from demo.processes import Child, start_server
from servicemonitors import cluster, gpu

# The operator's target labels of a pod behind a ServiceMonitor, as endpoints discovery gives them.
OPERATOR_NAMESPACE = "monitoring"


def relabel_config(rule: Mapping[str, Any]) -> dict[str, Any]:
    """A ServiceMonitor relabeling as Prometheus' relabel_config: the operator renames the keys only."""
    keys = {"sourceLabels": "source_labels", "targetLabel": "target_label"}
    return {keys.get(key, key): value for key, value in rule.items()}


def scrape_job(monitor: Mapping[str, Any], job: str, targets: Mapping[str, str]) -> dict[str, Any]:
    """What prometheus-operator makes of `monitor` for one endpoint: its interval, path and relabelings, and a
    target per exporter pod (node name -> address) with the labels endpoints discovery gives it."""
    (endpoint,) = monitor["spec"]["endpoints"]
    static = [
        {
            "targets": [target],
            "labels": {
                "namespace": OPERATOR_NAMESPACE,
                "pod": f"{job}-{node}",
                "container": "exporter",
                "service": job,
                "endpoint": endpoint["port"],
                "__meta_kubernetes_pod_node_name": node,
            },
        }
        for node, target in targets.items()
    ]
    return {
        "job_name": job,
        "metrics_path": endpoint["path"],
        "scheme": endpoint["scheme"],
        "scrape_interval": endpoint["interval"],
        "scrape_timeout": endpoint["scrapeTimeout"],
        "static_configs": static,
        "relabel_configs": [relabel_config(r) for r in endpoint.get("relabelings", [])],
        "metric_relabel_configs": [relabel_config(r) for r in endpoint.get("metricRelabelings", [])],
    }


def config(
    cfg: BundleConfig,
    gpu_targets: Mapping[str, str],
    cluster_target: str,
    rules: Path,
    alertmanager: str | None,
    evaluation_interval: str = "1s",
) -> dict[str, Any]:
    gpu_monitor = gpu.objects(cfg)["gpu-servicemonitor.yaml"]
    cluster_monitor = cluster.objects(cfg)["cluster-servicemonitor.yaml"]
    data: dict[str, Any] = {
        "global": {"scrape_interval": "1s", "evaluation_interval": evaluation_interval},
        "rule_files": [str(rules)],
        "scrape_configs": [
            scrape_job(gpu_monitor, cfg.exporter.gpu_job, gpu_targets),
            scrape_job(cluster_monitor, cfg.exporter.cluster_job, {"cpu-node-1": cluster_target}),
        ],
    }
    if alertmanager:
        data["alerting"] = {"alertmanagers": [{"static_configs": [{"targets": [alertmanager]}]}]}
    return data


def write_rules(cfg: BundleConfig, path: Path) -> Path:
    path.write_text(yaml.safe_dump(plain(alerts.build(cfg)), sort_keys=False), encoding="utf-8")
    return path


def start(folder: Path, prometheus_config: dict[str, Any]) -> tuple[Child, str]:
    """Prometheus on loopback with its data under `folder`; ready on return. (child, base URL)"""
    path = folder / "prometheus.yml"
    path.write_text(yaml.safe_dump(prometheus_config, sort_keys=False), encoding="utf-8")
    return start_server(
        "prometheus",
        ["prometheus"],
        lambda address: [
            f"--config.file={path}",
            f"--storage.tsdb.path={folder / 'data'}",
            f"--web.listen-address={address}",
            "--web.enable-lifecycle",
        ],
        folder / "prometheus.log",
    )


class PromQLError(Exception):
    """Prometheus refused a query; the message names the query."""


Series = tuple[dict[str, str], list[tuple[float, float]]]


@dataclass
class PrometheusAPI:
    url: str

    def _get(self, path: str, params: Mapping[str, str]) -> Any:
        query = urllib.parse.urlencode(params)
        try:
            with urllib.request.urlopen(f"{self.url}{path}?{query}", timeout=30) as response:
                answer = json.loads(response.read())
        except urllib.error.HTTPError as exc:
            answer = json.loads(exc.read() or b"{}")
        if answer.get("status") != "success":
            raise PromQLError(
                f"{answer.get('errorType')}: {answer.get('error')}\n  {params.get('query', '')}"
            )
        return answer["data"]

    def query(self, expr: str, at: float | None = None) -> list[tuple[dict[str, str], float]]:
        params = {"query": expr} if at is None else {"query": expr, "time": f"{at:.3f}"}
        data = self._get("/api/v1/query", params)
        if data["resultType"] == "scalar":
            return [({}, float(data["result"][1]))]
        return [(item["metric"], float(item["value"][1])) for item in data["result"]]

    def query_range(self, expr: str, start: float, end: float, step: float) -> list[Series]:
        params = {"query": expr, "start": f"{start:.3f}", "end": f"{end:.3f}", "step": f"{step:g}"}
        data = self._get("/api/v1/query_range", params)
        return [
            (item["metric"], [(float(t), float(v)) for t, v in item["values"]]) for item in data["result"]
        ]

    def alerts(self) -> list[dict[str, Any]]:
        found: list[dict[str, Any]] = self._get("/api/v1/alerts", {})["alerts"]
        return found

    def targets_up(self, jobs: Sequence[str]) -> bool:
        up = {m.get("job"): v for m, v in self.query("up")}
        return all(up.get(job) == 1 for job in jobs)


def finite(value: float) -> bool:
    return not (math.isnan(value) or math.isinf(value))

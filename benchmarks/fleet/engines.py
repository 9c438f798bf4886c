"""The real engines: a Prometheus per cluster on backfilled blocks, one VictoriaMetrics holding every cluster
(imported from the same blocks by vmctl, the cluster label added on the way in), and vmalert on it.

Both evaluate the same rule file at wall-clock time, so the generated history reaches a little past now.
"""

from __future__ import annotations

import contextlib
import json
import re
import shutil
import socket
import subprocess
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from benchmarks.harness import stop

EVALUATION_INTERVAL = "10s"
_SAMPLE = re.compile(r"^([a-zA-Z_:][\w:]*)(?:\{(.*)\})? (\S+)$")
_LABEL = re.compile(r'(\w+)="((?:[^"\\]|\\.)*)"')


def tool(name: str) -> str:
    path = shutil.which(name)
    if path is None:
        raise RuntimeError(f"{name} not installed (prometheus, victoria-metrics: scripts/bootstrap.sh)")
    return path


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def http(url: str, data: bytes | None = None, timeout: float = 120) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(url, data=data, timeout=timeout) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode()


def wait_for(condition: Callable[[], bool], seconds: float, what: str) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        if time.monotonic() > deadline:
            raise TimeoutError(f"waited {seconds:g} s for {what}")
        time.sleep(0.2)


def backfill(openmetrics: Path, blocks: Path) -> None:
    """`promtool tsdb create-blocks-from openmetrics`: the history as TSDB blocks."""
    result = subprocess.run(
        [tool("promtool"), "tsdb", "create-blocks-from", "openmetrics", str(openmetrics), str(blocks)],
        capture_output=True,
        text=True,
        check=False,
    )
    if result.returncode != 0:
        raise RuntimeError(f"promtool backfill failed: {result.stderr.strip()[-2000:]}")


@dataclass
class Engine:
    """A running query engine: the URL queries go to, the URL its own metrics are read from, its process."""

    name: str
    url: str
    metrics_url: str
    process: subprocess.Popen[bytes]

    def query(self, expr: str, at: float) -> list[tuple[dict[str, str], float]]:
        """(labels, value) of each series of an instant query at `at`."""
        params = urllib.parse.urlencode({"query": expr, "time": f"{at:.3f}"})
        answer = self._get(f"{self.url}/api/v1/query?{params}", expr)
        return [(item["metric"], float(item["value"][1])) for item in answer["data"]["result"]]

    def query_range(self, expr: str, start: float, end: float, step: int) -> int:
        """Run a range query; returns the number of series it returned."""
        params = urllib.parse.urlencode({"query": expr, "start": start, "end": end, "step": step})
        return len(self._get(f"{self.url}/api/v1/query_range?{params}", expr)["data"]["result"])

    def label_values(self, selector: str, label: str, start: float, end: float) -> int:
        """Values of `label` on the series of `selector` in [start, end], as Grafana's label_values() asks;
        returns how many."""
        params = urllib.parse.urlencode({"match[]": selector, "start": start, "end": end})
        return len(self._get(f"{self.url}/api/v1/label/{label}/values?{params}", selector)["data"])

    def _get(self, url: str, expr: str) -> Any:
        status, body = http(url)
        answer = json.loads(body) if body.startswith("{") else {"error": body}
        if status != 200 or answer.get("status") != "success":
            raise RuntimeError(f"{self.name}: query failed ({status}): {answer.get('error')}\n{expr}")
        return answer

    def rules(self) -> list[dict[str, Any]]:
        """The rule groups of /api/v1/rules, each with its rules' state and evaluation times."""
        status, body = http(f"{self.url}/api/v1/rules")
        if status != 200:
            raise RuntimeError(f"{self.name}: /api/v1/rules answered {status}: {body[:500]}")
        return list(json.loads(body)["data"]["groups"])

    def own_metrics(self) -> list[tuple[str, dict[str, str], float]]:
        _, body = http(self.metrics_url)
        out = []
        for line in body.splitlines():
            found = _SAMPLE.match(line)
            if found and not line.startswith("#"):
                out.append(
                    (found.group(1), dict(_LABEL.findall(found.group(2) or "")), float(found.group(3)))
                )
        return out


@contextlib.contextmanager
def _running(
    name: str, argv: Sequence[str], log: Path, ready: str, metrics_url: str, url: str
) -> Iterator[Engine]:
    with log.open("wb") as sink:
        process = subprocess.Popen(list(argv), stdout=sink, stderr=subprocess.STDOUT)
    engine = Engine(name, url, metrics_url, process)

    def is_ready() -> bool:
        if process.poll() is not None:
            raise RuntimeError(f"{name} exited with {process.returncode}: {log.read_text()[-2000:]}")
        try:
            return http(ready, timeout=2)[0] == 200
        except OSError:
            return False

    try:
        wait_for(is_ready, 300, f"{name} ready (log: {log})")
        yield engine
    finally:
        stop(process, timeout=30)


@contextlib.contextmanager
def prometheus(blocks: Path, rules: Path, external: Mapping[str, str], folder: Path) -> Iterator[Engine]:
    """Prometheus on the backfilled `blocks` (moved into its data folder), evaluating `rules`."""
    data = folder / "data"
    data.mkdir(parents=True, exist_ok=True)
    for block in blocks.iterdir():
        shutil.move(str(block), data / block.name)
    config = folder / "prometheus.yml"
    config.write_text(
        yaml.safe_dump(
            {
                "global": {"evaluation_interval": EVALUATION_INTERVAL, "external_labels": dict(external)},
                "rule_files": [str(rules)],
                # The backfilled blocks reach past now, and Prometheus accepts no sample older than its
                # newest block: recording rules and ALERTS are written through the out-of-order window.
                "storage": {"tsdb": {"out_of_order_time_window": "1d"}},
            }
        )
    )
    url = f"http://127.0.0.1:{free_port()}"
    argv = [
        tool("prometheus"),
        f"--config.file={config}",
        f"--storage.tsdb.path={data}",
        "--storage.tsdb.retention.time=30d",
        f"--web.listen-address={url.removeprefix('http://')}",
        "--query.timeout=2m",
    ]
    with _running(
        "prometheus", argv, folder / "prometheus.log", f"{url}/-/ready", f"{url}/metrics", url
    ) as e:
        yield e


@contextlib.contextmanager
def victoria_metrics(folder: Path) -> Iterator[Engine]:
    """Single-node VictoriaMetrics answering like Prometheus: 5m lookback, no latency offset, no cache."""
    url = f"http://127.0.0.1:{free_port()}"
    argv = [
        tool("victoria-metrics"),
        f"-storageDataPath={folder / 'vm-data'}",
        f"-httpListenAddr={url.removeprefix('http://')}",
        "-retentionPeriod=100y",
        "-search.latencyOffset=0s",
        "-search.maxStalenessInterval=5m",
        "-search.disableCache",
        "-search.maxUniqueTimeseries=10000000",
        "-search.maxSamplesPerQuery=5000000000",
        "-search.maxQueryDuration=2m",
        "-loggerLevel=WARN",
    ]
    with _running("victoria-metrics", argv, folder / "vm.log", f"{url}/health", f"{url}/metrics", url) as e:
        yield e


def vm_import(
    vm: Engine, openmetrics: Path, extra: Mapping[str, str], lines_per_request: int = 200_000
) -> None:
    """Import an OpenMetrics history into VictoriaMetrics (/api/v1/import/prometheus, timestamps in ms),
    adding `extra` labels to every series. Not vmctl: 1.79's --vm-extra-label loses some series."""
    query = urllib.parse.urlencode([("extra_label", f"{k}={v}") for k, v in extra.items()])
    url = f"{vm.url}/api/v1/import/prometheus?{query}"

    def send(lines: list[str]) -> None:
        status, body = http(url, data="".join(lines).encode(), timeout=600)
        if status >= 300:
            raise RuntimeError(f"victoria-metrics import answered {status}: {body[:500]}")

    batch: list[str] = []
    with openmetrics.open(encoding="utf-8") as source:
        for line in source:
            if line.startswith("#"):
                continue
            batch.append(f"{line[:-1]}000\n")
            if len(batch) >= lines_per_request:
                send(batch)
                batch = []
    if batch:
        send(batch)
    http(f"{vm.url}/internal/force_flush")


@contextlib.contextmanager
def vmalert(vm: Engine, rules: Path, folder: Path) -> Iterator[Engine]:
    """vmalert evaluating `rules` on VictoriaMetrics, writing records and ALERTS back to it."""
    url = f"http://127.0.0.1:{free_port()}"
    argv = [
        tool("vmalert"),
        f"-rule={rules}",
        f"-datasource.url={vm.url}",
        f"-remoteWrite.url={vm.url}",
        "-remoteWrite.flushInterval=1s",
        # Nobody receives the notifications: alerts are compared through the API.
        f"-notifier.url={vm.url}/none",
        f"-evaluationInterval={EVALUATION_INTERVAL}",
        f"-httpListenAddr={url.removeprefix('http://')}",
        "-disableAlertgroupLabel",
        "-loggerLevel=ERROR",
    ]
    with _running("vmalert", argv, folder / "vmalert.log", f"{url}/-/healthy", f"{url}/metrics", url) as e:
        yield e


def active_alerts(engine: Engine) -> list[dict[str, str]]:
    """Labels of every pending or firing alert, from Prometheus' or vmalert's /api/v1/alerts."""
    status, body = http(f"{engine.url}/api/v1/alerts")
    if status != 200:
        raise RuntimeError(f"{engine.name}: /api/v1/alerts answered {status}: {body[:500]}")
    return [dict(alert["labels"]) for alert in json.loads(body)["data"]["alerts"]]


def rules_evaluated(engine: Engine, times: int) -> bool:
    """Whether every rule group has been evaluated at least `times` times since the engine started."""
    if engine.name == "prometheus":
        counts = [v for n, _, v in engine.own_metrics() if n == "prometheus_rule_group_iterations_total"]
    else:
        counts = [v for n, _, v in engine.own_metrics() if n == "vmalert_iteration_total"]
    return bool(counts) and min(counts) >= times

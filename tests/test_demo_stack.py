"""The local stack's parts that need no servers: its GPU scenarios, bundle config, generated Prometheus and
Alertmanager configs (checked by promtool and amtool), the webhook and process stopping."""

from __future__ import annotations

import json
import sys
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import yaml

from bundle.config import defaults
from bundle.schema import BundleConfig
from demo import prometheus
from demo.alerting import Webhook, route_everything_to, via_webhook
from demo.config import PENDING, PENDING_LONG, RATE_WINDOW, shortened, stack_config
from demo.control import apply
from demo.gpu_node import Throttle, Xid, write_scenario
from demo.processes import launch, stop, wait_until
from exporter.gpu.fake_nvml import load
from tests.fixtures_bundle import run_tool, tool

H100 = load("h100-8x").gpus


def test_the_node_keeps_every_gpus_identity_and_plays_the_faults_it_is_given(tmp_path: Path) -> None:
    faults = [Xid(7, 79, at=2, repeat=2, every=3, lost=True), Throttle(6, "hw_thermal")]
    node = load(str(write_scenario(tmp_path / "node.yaml", faults)))
    assert [gpu.uuid for gpu in node.gpus] == [gpu.uuid for gpu in H100]
    assert node.gpus[7].xids == ((2.0, 79), (5.0, 79))
    assert node.gpus[7].lost_at == 6.0
    assert "hw_thermal" in node.gpus[6].clock_events
    assert not any(gpu.xids or gpu.lost_at for gpu in node.gpus[:7])


def test_a_healthy_node_has_no_faults(tmp_path: Path) -> None:
    node = load(str(write_scenario(tmp_path / "node.yaml")))
    assert not any(gpu.xids or gpu.lost_at for gpu in node.gpus)


def test_waits_are_shortened_by_key_name_and_long_horizons_kept() -> None:
    override = shortened(defaults())
    assert override["gpu"]["rate_window"] == override["serving"]["rate_window"] == RATE_WINDOW
    assert override["gpu"]["lost_for"] == PENDING
    assert override["gpu"]["underutilized_for"] == PENDING_LONG  # 1h by default: restarts are no incident
    assert "no_success_for" not in override.get("training", {})  # 2d: shortened it would fire at once


def test_the_stack_config_loads_as_a_partial_override(tmp_path: Path) -> None:
    cfg, path = stack_config(tmp_path, {"gpu": {"temperature_for": "3s"}})
    assert cfg.exporter.scrape_interval == "1s"
    assert cfg.gpu.temperature_for == "3s"
    assert yaml.safe_load(path.read_text())["gpu"]["temperature_for"] == "3s"


@pytest.fixture
def stack_cfg(tmp_path: Path) -> BundleConfig:
    return stack_config(tmp_path)[0]


def test_prometheus_accepts_the_config_and_the_generated_rules(
    tmp_path: Path, stack_cfg: BundleConfig
) -> None:
    rules = prometheus.write_rules(stack_cfg, tmp_path / "rules.yml")
    gpu_targets = {"gpu-node-1": "127.0.0.1:1", "gpu-node-2": "127.0.0.1:4"}
    config = prometheus.config(stack_cfg, gpu_targets, "127.0.0.1:2", rules, "127.0.0.1:3")
    path = tmp_path / "prometheus.yml"
    path.write_text(yaml.safe_dump(config))
    result = run_tool([tool("promtool"), "check", "config", str(path)])
    assert result.returncode == 0, result.stdout + result.stderr
    jobs = {job["job_name"]: job for job in config["scrape_configs"]}
    assert set(jobs) == {stack_cfg.exporter.gpu_job, stack_cfg.exporter.cluster_job}
    # the DaemonSet's node relabeling, fed the way endpoints discovery feeds it
    gpu_job = jobs[stack_cfg.exporter.gpu_job]
    nodes = [s["labels"]["__meta_kubernetes_pod_node_name"] for s in gpu_job["static_configs"]]
    assert nodes == ["gpu-node-1", "gpu-node-2"]
    assert stack_cfg.naming.node_label in [r.get("target_label") for r in gpu_job["relabel_configs"]]


def test_alertmanager_accepts_the_route_everything_config(tmp_path: Path, stack_cfg: BundleConfig) -> None:
    path = tmp_path / "alertmanager.yml"
    path.write_text(yaml.safe_dump(route_everything_to(stack_cfg, "http://127.0.0.1:9/")))
    result = run_tool([tool("amtool"), "check-config", str(path)])
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.fixture
def webhook(tmp_path: Path) -> Iterator[Webhook]:
    hook = Webhook(tmp_path / "webhook.jsonl").start()
    yield hook
    hook.stop()


def notify(hook: Webhook, status: str, alertname: str) -> None:
    """POST what Alertmanager's webhook_config sends (version 4)."""
    alert = {"status": status, "labels": {"alertname": alertname, "severity": "critical"}, "annotations": {}}
    body = json.dumps({"version": "4", "status": status, "receiver": "webhook", "alerts": [alert]}).encode()
    request = urllib.request.Request(hook.url, data=body, headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=5) as response:
        assert response.status == 200


def test_the_webhook_hands_over_the_alert_awaited_and_logs_each(webhook: Webhook) -> None:
    notify(webhook, "firing", "MLObsGpuLost")
    notify(webhook, "resolved", "MLObsGpuLost")
    assert webhook.wait_for("MLObsGpuLost", "resolved", timeout=5)["status"] == "resolved"
    logged = [json.loads(line) for line in webhook.log.read_text().splitlines()]
    assert [a["status"] for a in logged] == ["firing", "resolved"]


def test_waiting_for_an_alert_that_never_comes_names_what_came(webhook: Webhook) -> None:
    notify(webhook, "firing", "MLObsGpuXidCritical")
    with pytest.raises(TimeoutError, match="MLObsGpuXidCritical"):
        webhook.wait_for("MLObsGpuLost", timeout=0.2)


def running(pid: int) -> bool:
    """Whether `pid` exists and is not a zombie (an orphan waits for init to reap it)."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().split(") ")[1][0] != "Z"
    except FileNotFoundError:
        return False


def test_stopping_a_child_stops_the_processes_it_started(tmp_path: Path) -> None:
    pid_file = tmp_path / "grandchild"
    script = (
        "import pathlib, subprocess, sys, time\n"
        "p = subprocess.Popen(['sleep', '60'])\n"
        "pathlib.Path(sys.argv[1]).write_text(str(p.pid))\n"
        "time.sleep(60)\n"
    )
    child = launch("sleeper", [sys.executable, "-c", script, str(pid_file)], tmp_path / "sleeper.log")
    try:
        wait_until(lambda: bool(pid_file.exists() and pid_file.read_text()), 10, "the grandchild", child)
    finally:
        stop(child, timeout=5)
    assert not child.alive()
    assert not running(int(pid_file.read_text()))


class RecordingStack:
    """Stands in for a running Stack: records the faults thrown at it."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, tuple[object, ...]]] = []

    def __getattr__(self, name: str) -> Callable[..., object]:
        def record(*args: object) -> object:
            self.calls.append((name, args))
            return 0.5

        return record


@pytest.mark.parametrize(
    ("words", "call"),
    [
        (["xid"], ("inject_xid", (7, 79))),
        (["xid", "3"], ("inject_xid", (3, 79))),
        (["throttle"], ("inject_throttle", (6,))),
        (["latency", "ranking"], ("latency_spike", ("ranking",))),
        (["drift"], ("log_drift", ("fraud-detector",))),
        (["load-failure"], ("fail_model_load", ("ranking",))),
        (["mlflow-stop"], ("stop_mlflow", ())),
        (["clear"], ("clear_faults", ())),
    ],
)
def test_each_switch_throws_its_fault(words: list[str], call: tuple[str, tuple[object, ...]]) -> None:
    stack = RecordingStack()
    assert apply(stack, words)
    assert stack.calls == [call]


def test_an_unknown_switch_answers_the_list_of_switches() -> None:
    stack = RecordingStack()
    answer = apply(stack, ["reboot"])
    assert "unknown command 'reboot'" in answer and "xid [GPU]" in answer
    assert stack.calls == []


def generated_alertmanager(cfg: BundleConfig) -> dict[str, object]:
    """The shape a generated config takes: real integrations, a routing tree, an inhibition."""
    return {
        "global": {"resolve_timeout": "5m"},
        "templates": ["/etc/alertmanager/templates/*.tmpl"],
        "route": {
            "receiver": "ticket",
            "group_by": ["alertname", "node"],
            "group_wait": "30s",
            "group_interval": "5m",
            "routes": [{"receiver": "pager", "matchers": ['severity="critical"'], "group_wait": "10s"}],
        },
        "receivers": [
            {"name": "ticket", "slack_configs": [{"api_url": "https://hooks.example/x", "channel": "#ml"}]},
            {"name": "pager", "pagerduty_configs": [{"routing_key": "secret"}]},
        ],
        "inhibit_rules": [
            {
                "source_matchers": ['alertname="MLObsGpuLost"'],
                "target_matchers": ['severity="warning"'],
                "equal": ["node"],
            }
        ],
    }


def test_a_generated_config_keeps_its_routes_and_delivers_to_the_webhook(
    tmp_path: Path, stack_cfg: BundleConfig
) -> None:
    config = via_webhook(generated_alertmanager)(stack_cfg, "http://127.0.0.1:9/")
    path = tmp_path / "alertmanager.yml"
    path.write_text(yaml.safe_dump(config))
    assert run_tool([tool("amtool"), "check-config", str(path)]).returncode == 0
    routed = run_tool(
        [tool("amtool"), "config", "routes", "test", f"--config.file={path}", "severity=critical", "node=n1"]
    )
    assert routed.stdout.strip() == "pager"
    assert {r["name"]: list(r) for r in config["receivers"]} == {
        "ticket": ["name", "webhook_configs"],
        "pager": ["name", "webhook_configs"],
    }
    assert (config["route"]["group_wait"], config["route"]["routes"][0]["group_wait"]) == ("1s", "1s")
    assert config["inhibit_rules"] == generated_alertmanager(stack_cfg)["inhibit_rules"]


def test_the_webhook_records_which_receiver_each_alert_reached(webhook: Webhook) -> None:
    notify(webhook, "firing", "MLObsGpuLost")
    assert webhook.wait_for("MLObsGpuLost", receiver="webhook", timeout=5)["receiver"] == "webhook"
    assert webhook.received("MLObsGpuLost", receiver="pager") == []

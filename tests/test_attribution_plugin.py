"""The attribution plugin's flags and config section: defaults, precedence, every problem at once."""

from __future__ import annotations

from pathlib import Path

import pytest

from exporter.attribution.plugin import AttributionPlugin, AttributionSettings
from exporter.plugin import BuildContext
from exporter.settings import ConfigError, parse
from tests.dummy_plugin import DummyPlugin


def settings(argv: list[str], environ: dict[str, str] | None = None) -> AttributionSettings:
    parsed = parse(
        ["--collector.attribution", *argv], environ or {}, [DummyPlugin("gpu"), AttributionPlugin()]
    )
    result: AttributionSettings = parsed.collectors["attribution"]
    return result


def test_defaults_read_the_kubelet_socket_for_gpus_and_mig_without_processes() -> None:
    got = settings([])
    assert got.socket_path == "/var/lib/kubelet/pod-resources/kubelet.sock"
    assert got.resources == ("nvidia.com/gpu", "nvidia.com/gpu.shared", "nvidia.com/mig-*")
    assert (got.timeout, got.processes, got.proc_root, got.kubernetes_api) == (2.0, False, "/proc", False)


def test_attribution_is_off_unless_asked_for() -> None:
    parsed = parse([], {}, [DummyPlugin("gpu"), AttributionPlugin()])
    assert "attribution" not in parsed.collectors


def test_flags_win_over_the_config_file(tmp_path: Path) -> None:
    config = tmp_path / "c.yaml"
    config.write_text(
        "attribution:\n  pod_resources_socket: /run/k.sock\n  resources: [example.com/gpu]\n  timeout: 5\n"
        "  processes: true\n  proc_root: /host/proc\n"
    )
    got = settings([f"--config.file={config}"])
    assert (got.socket_path, got.resources, got.timeout, got.processes, got.proc_root) == (
        "/run/k.sock",
        ("example.com/gpu",),
        5.0,
        True,
        "/host/proc",
    )
    got = settings(
        [
            f"--config.file={config}",
            "--attribution.resource=nvidia.com/gpu",
            "--attribution.resource=amd.com/gpu",
            "--attribution.timeout=0.5",
            "--no-attribution.processes",
            "--attribution.pod-resources-socket=/k.sock",
        ]
    )
    assert (got.socket_path, got.resources, got.timeout, got.processes) == (
        "/k.sock",
        ("nvidia.com/gpu", "amd.com/gpu"),
        0.5,
        False,
    )


def test_the_api_lookup_follows_per_process_attribution_when_the_node_is_known() -> None:
    assert settings(["--attribution.processes"], {"NODE_NAME": "gpu-1"}).kubernetes_api is True
    assert settings(["--attribution.processes"]).kubernetes_api is False
    assert (
        settings(
            ["--attribution.processes", "--no-attribution.kubernetes-api"], {"NODE_NAME": "n"}
        ).kubernetes_api
        is False
    )
    assert (
        settings(["--attribution.kubernetes-api"], {"NODE_NAME": "gpu-1"}).kubernetes_api is False
    )  # no processes


def test_every_problem_is_reported_at_once(tmp_path: Path) -> None:
    config = tmp_path / "c.yaml"
    config.write_text("attribution: {pod_resources_socket: kubelet.sock, resources: nvidia, colour: red}\n")
    with pytest.raises(ConfigError) as caught:
        settings(
            [
                f"--config.file={config}",
                "--attribution.timeout=soon",
                "--attribution.proc-root=proc",
                "--attribution.processes",
                "--attribution.kubernetes-api",
            ]
        )
    problems = "\n".join(caught.value.problems)
    for expected in (
        "attribution.pod_resources_socket: must start with /, got 'kubelet.sock'",
        "attribution.resources: must be a list of non-empty strings",
        "attribution.colour: unknown key",
        "--attribution.timeout: must be a duration like 2s, 500ms or 1m, or a number of seconds, got 'soon'",
        "--attribution.proc-root: must start with /, got 'proc'",
        "--attribution.kubernetes-api: needs NODE_NAME",
    ):
        assert expected in problems
    assert len(caught.value.problems) == 6


def test_attribution_without_the_gpu_collector_is_a_config_problem(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="needs the gpu collector, which is turned off"):
        settings(["--no-collector.gpu"])
    config = tmp_path / "c.yaml"
    config.write_text("collectors: {gpu: false}\n")
    with pytest.raises(ConfigError, match="needs the gpu collector"):
        settings([f"--config.file={config}"])
    settings([f"--config.file={config}", "--collector.gpu"])  # the flag wins


def test_building_without_a_gpu_collector_fails_clearly() -> None:
    with pytest.raises(ValueError, match="attribution needs the gpu collector"):
        AttributionPlugin().build(settings([]), BuildContext(node_name="", environ={}))


def test_the_gpu_collector_is_declared_required_and_tfserving_used() -> None:
    plugin = AttributionPlugin()
    assert (plugin.requires, plugin.uses) == (("gpu",), ("tfserving",))

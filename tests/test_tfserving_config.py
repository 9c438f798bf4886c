"""The tfserving flags and config section: precedence, defaults, and one clear line per problem."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from exporter.settings import ConfigError, parse
from exporter.tfserving.plugin import TFServingPlugin, TFServingSettings


def _settings(
    argv: list[str],
    config: dict[str, object] | None = None,
    tmp_path: Path | None = None,
    environ: dict[str, str] | None = None,
) -> TFServingSettings:
    if config is not None and tmp_path is not None:
        path = tmp_path / "c.yaml"
        path.write_text(yaml.safe_dump(config))
        argv = [*argv, f"--config.file={path}"]
    settings = parse(["--collector.tfserving", *argv], environ or {}, [TFServingPlugin()])
    result: TFServingSettings = settings.collectors["tfserving"]
    return result


def _problems(
    argv: list[str],
    config: dict[str, object] | None = None,
    tmp_path: Path | None = None,
    environ: dict[str, str] | None = None,
) -> list[str]:
    with pytest.raises(ConfigError) as caught:
        _settings(argv, config, tmp_path, environ)
    return caught.value.problems


def test_off_by_default() -> None:
    assert "tfserving" not in parse([], {}, [TFServingPlugin()]).collectors


def test_flags_give_targets_with_models_and_timeout() -> None:
    settings = _settings(
        [
            "--tfserving.target=http://127.0.0.1:8501/",
            "--tfserving.target=https://tfs.ml:443",
            "--tfserving.model=bert",
            "--tfserving.model=resnet",
            "--tfserving.timeout=0.5",
        ]
    )
    assert [(t.url, t.models, t.timeout) for t in settings.targets] == [
        ("http://127.0.0.1:8501", ("bert", "resnet"), 0.5),
        ("https://tfs.ml:443", ("bert", "resnet"), 0.5),
    ]
    assert settings.targets[0].metrics_path == "/monitoring/prometheus/metrics"


def test_config_targets_have_their_own_options_and_flags_add_more(tmp_path: Path) -> None:
    config = {
        "tfserving": {
            "timeout": 3,
            "metrics_path": "/metrics",
            "max_models": 10,
            "targets": [
                {"url": "http://a:8501", "models": ["bert"]},
                {"url": "http://b:8501", "timeout": 1, "metrics_path": "/tf/metrics"},
            ],
        }
    }
    settings = _settings(["--tfserving.target=http://c:8501"], config, tmp_path)
    assert [(t.url, t.models, t.timeout, t.metrics_path) for t in settings.targets] == [
        ("http://a:8501", ("bert",), 3.0, "/metrics"),
        ("http://b:8501", (), 1.0, "/tf/metrics"),
        ("http://c:8501", (), 3.0, "/metrics"),
    ]
    assert settings.max_models == 10


def test_flags_win_over_the_config_file(tmp_path: Path) -> None:
    config = {"tfserving": {"timeout": 3, "metrics_path": "/metrics", "targets": [{"url": "http://a:8501"}]}}
    (target,) = _settings(["--tfserving.timeout=1", "--tfserving.metrics-path=/tf"], config, tmp_path).targets
    assert (target.timeout, target.metrics_path) == (1.0, "/tf")
    assert _problems(["--tfserving.metrics-path=tf", "--tfserving.target=http://b:1"]) == [
        "--tfserving.metrics-path: must start with /, got 'tf'"
    ]


def test_kubernetes_section(tmp_path: Path) -> None:
    config = {
        "tfserving": {
            "kubernetes": {
                "enabled": True,
                "label_selector": "app=tfs",
                "port_name": "rest",
                "models_annotation": "x/models",
                "refresh_interval": 60,
            }
        }
    }
    kube = _settings([], config, tmp_path, {"NODE_NAME": "gpu-1"}).kubernetes
    assert (
        kube.enabled,
        kube.label_selector,
        kube.port_name,
        kube.models_annotation,
        kube.refresh_interval,
    ) == (True, "app=tfs", "rest", "x/models", 60.0)


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("ftp://x:21", "must be an http or https URL with a host"),
        ("127.0.0.1:8501", "must be an http or https URL with a host"),
        ("http://:8501", "must be an http or https URL with a host"),
        ("http://user:secret@x:8501", "credentials in the URL are not supported"),
        ("http://x:8501/?a=b", "must not have a query"),
        ("http://x:99999", "is not a URL"),
    ],
)
def test_bad_flag_urls(url: str, message: str) -> None:
    (problem,) = _problems([f"--tfserving.target={url}"])
    assert problem.startswith("--tfserving.target: ") and message in problem
    assert "secret" not in problem


def test_every_problem_at_once(tmp_path: Path) -> None:
    config = {
        "tfserving": {
            "targets": [
                {"url": "gopher://x"},
                {"models": ["a/b"], "colour": "red"},
                {"url": "http://d:1"},
                {"url": "http://d:1/"},
            ],
            "kubernetes": {"enabled": True, "scheme": "udp", "typo": 1},
            "timeout": -1,
        }
    }
    problems = _problems(["--tfserving.timeout=soon", "--tfserving.model=x y"], config, tmp_path)
    expected = [
        "tfserving.targets[0].url: 'gopher://x' must be an http or https URL",
        "tfserving.targets[1].url: is required",
        "tfserving.targets[1].models: 'a/b' is not a model name",
        "tfserving.targets[1].colour: unknown key",
        "tfserving: target http://d:1 is listed twice",
        "tfserving.kubernetes.scheme: must be one of http, https",
        "tfserving.kubernetes.typo: unknown key",
        "tfserving.kubernetes.enabled: discovery needs NODE_NAME",
        "tfserving.timeout: must be greater than 0",
        "--tfserving.timeout: must be a duration like 2s, 500ms or 1m, or a number of seconds, got 'soon'",
        "--tfserving.model: 'x y' is not a model name",
        "--tfserving.model: needs at least one --tfserving.target",
    ]
    for start in expected:
        assert any(p.startswith(start) for p in problems), (start, problems)
    assert len(problems) == len(expected), problems


def test_enabled_without_any_target_says_how_to_give_one() -> None:
    (problem,) = _problems([])
    assert problem.startswith("tfserving: no targets: pass --tfserving.target=URL")


def test_disabled_collector_does_not_demand_targets_or_node_name(tmp_path: Path) -> None:
    path = tmp_path / "c.yaml"
    path.write_text(yaml.safe_dump({"tfserving": {"kubernetes": {"enabled": True}}}))
    assert parse([f"--config.file={path}"], {}, [TFServingPlugin()]).collectors == {}

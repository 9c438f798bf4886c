"""The one bundle config: documented defaults, partial overrides, and one line naming every bad key."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from bundle.config import BundleConfigError, defaults
from bundle.schema import duration_seconds, load_config


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "bundle.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def error_for(tmp_path: Path, text: str) -> str:
    with pytest.raises(BundleConfigError) as caught:
        load_config(write(tmp_path, text))
    message = str(caught.value)
    assert "\n" not in message
    return message


def test_defaults_pass_their_own_checks() -> None:
    cfg = load_config()
    assert cfg.gpu.utilization_target_low == 0.70
    assert cfg.dashboards.overview_uid == "ml-overview"
    assert cfg.gpu.critical_xids == (48, 62, 64, 74, 79, 95, 119, 120)


def test_every_default_is_documented_by_a_comment() -> None:
    lines = (Path(__file__).resolve().parent.parent / "bundle" / "bundle.yaml").read_text().splitlines()
    sections = [line.rstrip(":") for line in lines if line and line[0].isalpha()]
    assert sections == list(defaults())
    for number, line in enumerate(lines):
        if line and line[0].isalpha():
            assert lines[number - 1].startswith("#"), f"section {line} has no comment above it"


def test_a_partial_override_keeps_the_other_defaults(tmp_path: Path) -> None:
    cfg = load_config(write(tmp_path, "gpu:\n  temperature_warning_celsius: 80\n"))
    assert cfg.gpu.temperature_warning_celsius == 80
    assert cfg.gpu.temperature_critical_celsius == 90
    assert cfg.naming.selector_labels == {"release": "kube-prometheus-stack"}


def test_free_form_mappings_are_replaced_whole(tmp_path: Path) -> None:
    cfg = load_config(write(tmp_path, "naming:\n  selector_labels: {prometheus: ml}\n"))
    assert cfg.naming.selector_labels == {"prometheus": "ml"}


def test_unknown_and_mistyped_keys_are_named(tmp_path: Path) -> None:
    message = error_for(tmp_path, "gpu:\n  temprature_warning_celsius: 80\nexporter:\n  port: '9847'\n")
    assert "gpu.temprature_warning_celsius: unknown key" in message
    assert "exporter.port: must be int, got '9847'" in message


def test_every_semantic_problem_is_reported_at_once(tmp_path: Path) -> None:
    message = error_for(
        tmp_path,
        yaml.safe_dump(
            {
                "gpu": {
                    "temperature_warning_celsius": 95,
                    "throttle_for": "15 minutes",
                    "bad_throttle_reasons": ["hw_slowdown", "thermal"],
                    "utilization_target_high": 1.5,
                    "critical_xids": [79, 13],
                },
                "exporter": {"scrape_timeout": "20s", "gpu_job": "GPU_Exporter"},
                "links": {"runbook_url_pattern": "https://runbooks/{name}"},
                "naming": {"selector_labels": {"release": 7}, "node_label": "node-name"},
            }
        ),
    )
    for expected in (
        "gpu.temperature_warning_celsius: must be below gpu.temperature_critical_celsius",
        "gpu.throttle_for: must be a Prometheus duration",
        "gpu.bad_throttle_reasons: must be a non-empty list of gpu_idle",
        "gpu.utilization_target_high: must be a ratio in (0, 1]",
        "gpu.application_xids: must not repeat critical XIDs [13]",
        "exporter.scrape_timeout: must not exceed exporter.scrape_interval",
        "exporter.gpu_job: must be a DNS label",
        "links.runbook_url_pattern: may use only the {alert} placeholder",
        "naming.selector_labels.release: must be a Kubernetes label with a string value",
        "naming.node_label: must be a Prometheus label name",
    ):
        assert expected in message


def test_unreadable_or_malformed_files_are_one_line_errors(tmp_path: Path) -> None:
    with pytest.raises(BundleConfigError, match="cannot read"):
        load_config(tmp_path / "missing.yaml")
    assert error_for(tmp_path, "gpu: [1, 2\n").endswith("not valid YAML")
    assert error_for(tmp_path, "- 1\n").endswith("must be a mapping")
    assert "gpu: must be a mapping" in error_for(tmp_path, "gpu: 3\n")


@pytest.mark.parametrize(
    ("text", "seconds"), [("30s", 30), ("5m", 300), ("1h30m", 5400), ("1d", 86400), ("250ms", 0.25)]
)
def test_durations_read_like_prometheus(text: str, seconds: float) -> None:
    assert duration_seconds(text) == seconds


@pytest.mark.parametrize("text", ["", "5", "5 m", "m5", "1.5h"])
def test_non_durations_are_refused(text: str) -> None:
    with pytest.raises(ValueError, match="not a Prometheus duration"):
        duration_seconds(text)

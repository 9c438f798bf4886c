"""`mlobs-bundle`: the check a site runs in CI (one line per problem, non-zero exit), and generate."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from alerts.promtool import run_tests
from bundle.cli import main, run_check


def check(config: Path | None) -> tuple[int, list[str]]:
    lines: list[str] = []
    return run_check(config, lines.append), lines


def write(tmp_path: Path, override: dict[str, object]) -> Path:
    path = tmp_path / "site.yaml"
    path.write_text(yaml.safe_dump(override), encoding="utf-8")
    return path


def test_every_config_problem_is_one_line_naming_its_key(tmp_path: Path) -> None:
    site = write(
        tmp_path,
        {
            "slo": {"latency_threshold_seconds": 0.1, "period": "7d"},
            "serving": {"client_error_codes": ["OK", "TEAPOT"]},
            "models": {"overrides": {"ranking": {"serving": {"latency_for": "1h"}}}},
        },
    )
    code, lines = check(site)
    assert code == 2
    assert len(lines) == 4, lines
    assert all(line.startswith(f"{site}: ") for line in lines)
    assert any(
        "slo.latency_threshold_seconds: 0.1 is not a TF Serving latency bucket bound" in x for x in lines
    )
    assert any("nearest are 0.0674664 (67.47ms) and 0.12144 (121.44ms)" in x for x in lines)
    assert any("models.overrides.ranking.serving: ['latency_for'] cannot be overridden" in x for x in lines)


def test_an_unknown_key_fails_before_anything_is_generated(tmp_path: Path) -> None:
    code, lines = check(write(tmp_path, {"serving": {"p95_target": 0.2}}))
    assert code == 2
    assert lines == [f"{tmp_path / 'site.yaml'}: {tmp_path / 'site.yaml'}: serving.p95_target: unknown key"]


def test_a_missing_promtool_is_one_clear_line(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))
    code, lines = check(None)
    assert code == 1
    assert lines == ["promtool not found on PATH (Debian/Ubuntu: apt install prometheus)"]


def test_a_failing_promtool_case_is_reported_on_one_line(tmp_path: Path) -> None:
    rules = yaml.safe_dump({"groups": [{"name": "g", "rules": [{"alert": "Down", "expr": "up == 0"}]}]})
    case = {
        "tests": [
            {
                "interval": "1m",
                "input_series": [{"series": 'up{job="x"}', "values": "0x5"}],
                "alert_rule_test": [{"eval_time": "2m", "alertname": "Down", "exp_alerts": []}],
            }
        ]
    }
    problems = run_tests(tmp_path, rules, {"down-test.yaml": case})
    assert len(problems) == 1
    assert problems[0].startswith("promtool test rules: down-test.yaml: alertname: Down, time: 2m")
    assert "\n" not in problems[0]


def test_the_default_bundle_passes_the_whole_check() -> None:
    code, lines = check(None)
    assert (code, lines) == (0, ["mlobs-bundle check: bundle.yaml: OK"])


def test_generate_is_the_bundle_generator(tmp_path: Path) -> None:
    assert main(["generate", "--out", str(tmp_path / "build")]) == 0
    assert (tmp_path / "build" / "prometheus" / "rules.yaml").is_file()

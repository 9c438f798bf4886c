"""The mlflow plugin's flags and config section: precedence, defaults, and every problem reported at once."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from exporter.mlflow.collector import MlflowSettings
from exporter.mlflow.plugin import MLFLOW_PLUGIN
from exporter.settings import ConfigError, parse

URL = "http://mlflow.test:5000"


def settings(
    argv: list[str], environ: dict[str, str] | None = None, config: Any = None, tmp: Path | None = None
) -> MlflowSettings:
    if config is not None:
        assert tmp is not None
        path = tmp / "config.yaml"
        path.write_text(yaml.safe_dump(config))
        argv = [*argv, f"--config.file={path}"]
    parsed = parse(["--collector.mlflow", *argv], environ or {}, [MLFLOW_PLUGIN])
    result = parsed.collectors["mlflow"]
    assert isinstance(result, MlflowSettings)
    return result


def problems(argv: list[str], config: Any, tmp: Path, environ: dict[str, str] | None = None) -> list[str]:
    path = tmp / "config.yaml"
    path.write_text(yaml.safe_dump(config))
    with pytest.raises(ConfigError) as caught:
        parse([*argv, f"--config.file={path}"], environ or {}, [MLFLOW_PLUGIN])
    return caught.value.problems


def test_off_by_default_and_then_needs_no_tracking_uri() -> None:
    assert "mlflow" not in parse([], {}, [MLFLOW_PLUGIN]).collectors


def test_enabled_without_a_tracking_uri_is_one_clear_problem() -> None:
    with pytest.raises(ConfigError) as caught:
        parse(["--collector.mlflow"], {}, [MLFLOW_PLUGIN])
    assert len(caught.value.problems) == 1
    assert "--mlflow.tracking-uri" in caught.value.problems[0]


def test_tracking_uri_flag_beats_environment_beats_config(tmp_path: Path) -> None:
    config = {"mlflow": {"tracking_uri": "http://from-config:1"}}
    env = {"MLFLOW_TRACKING_URI": "http://from-env:2"}
    assert settings(["--mlflow.tracking-uri=http://from-flag:3"], env, config, tmp_path).tracking_uri == (
        "http://from-flag:3"
    )
    assert settings([], env, config, tmp_path).tracking_uri == "http://from-env:2"
    assert settings([], {}, config, tmp_path).tracking_uri == "http://from-config:1"


def test_defaults() -> None:
    result = settings([f"--mlflow.tracking-uri={URL}"])
    assert result.refresh_interval == 60 and result.request_timeout == 10
    assert result.windows == (("1d", 86400), ("7d", 604800))
    assert result.training.lookback == 604800 and not result.training.enabled
    assert result.monitoring_keys.model_tag == "mlobs.model_name"
    assert result.monitoring_keys.version_tag == "mlobs.model_version"
    assert "psi" in result.monitoring_keys.drift_metrics and "auc" in result.monitoring_keys.quality_metrics
    assert result.tls.verify is True and result.tls.cert is None


def test_answers_are_capped_at_8_mib_unless_configured(tmp_path: Path) -> None:
    assert settings([f"--mlflow.tracking-uri={URL}"]).max_body_bytes == 8 * 1024 * 1024
    config = {"mlflow": {"max_body_bytes": 65536}}
    assert settings([f"--mlflow.tracking-uri={URL}"], config=config, tmp=tmp_path).max_body_bytes == 65536
    found = problems(
        ["--collector.mlflow", f"--mlflow.tracking-uri={URL}"], {"mlflow": {"max_body_bytes": 10}}, tmp_path
    )
    assert len(found) == 1 and found[0].startswith("mlflow.max_body_bytes:")


def test_repeated_experiment_flags_replace_the_configured_list(tmp_path: Path) -> None:
    config = {"mlflow": {"training": {"experiments": ["from-config"]}}}
    argv = [f"--mlflow.tracking-uri={URL}", "--mlflow.experiment=a", "--mlflow.experiment=b"]
    assert settings(argv, config=config, tmp=tmp_path).training.experiments == ("a", "b")
    assert settings([f"--mlflow.tracking-uri={URL}"], config=config, tmp=tmp_path).training.experiments == (
        "from-config",
    )


def test_refresh_interval_from_flag_and_from_config(tmp_path: Path) -> None:
    config = {"mlflow": {"refresh_interval": "2m", "scrape_wait": 0.5}}
    assert settings([f"--mlflow.tracking-uri={URL}", "--mlflow.refresh-interval=30s"]).refresh_interval == 30
    loaded = settings([f"--mlflow.tracking-uri={URL}"], config=config, tmp=tmp_path)
    assert (loaded.refresh_interval, loaded.scrape_wait) == (120, 0.5)


def test_every_problem_in_the_section_is_reported_at_once(tmp_path: Path) -> None:
    config = {
        "mlflow": {
            "tracking_uri": "databricks",
            "refresh_interval": "soon",
            "page_size": 5000,
            "registry": {"max_models": 0},
            "training": {"windows": ["1d", "1x"]},
            "monitoring": {"model_name_tag": "bad`tag", "typo": 1},
            "tls": {"insecure_skip_verify": True, "ca_file": "/ca.pem"},
        }
    }
    found = problems(["--collector.mlflow"], config, tmp_path)
    expected = [
        "is not an http(s) URL",
        "mlflow.refresh_interval",
        "mlflow.page_size",
        "mlflow.registry.max_models",
        "mlflow.training.windows",
        "mlflow.monitoring.model_name_tag",
        "mlflow.monitoring.typo: unknown key",
        "exclude each other",
    ]
    for fragment in expected:
        assert any(fragment in problem for problem in found), (fragment, found)


def test_malformed_values_are_problems_even_when_disabled(tmp_path: Path) -> None:
    found = problems([], {"mlflow": {"page_size": "many"}}, tmp_path)
    assert found == ["mlflow.page_size: must be an integer, got 'many'"]


@pytest.mark.parametrize(
    ("uri", "fragment"),
    [
        ("file:///mlruns", "not an http(s) URL"),
        ("http://user:secret@mlflow:5000", "must not carry credentials"),
        ("http://mlflow:5000/?x=1", "query or fragment"),
    ],
)
def test_tracking_uri_must_be_a_plain_http_url(uri: str, fragment: str) -> None:
    with pytest.raises(ConfigError) as caught:
        parse(["--collector.mlflow", f"--mlflow.tracking-uri={uri}"], {}, [MLFLOW_PLUGIN])
    assert fragment in str(caught.value)
    assert "secret" not in str(caught.value)


def test_tls_from_the_official_client_environment(tmp_path: Path) -> None:
    ca, cert = tmp_path / "ca.pem", tmp_path / "client.pem"
    ca.write_text("x")
    cert.write_text("x")
    env = {"MLFLOW_TRACKING_SERVER_CERT_PATH": str(ca), "MLFLOW_TRACKING_CLIENT_CERT_PATH": str(cert)}
    tls = settings([f"--mlflow.tracking-uri={URL}"], env).tls
    assert (tls.verify, tls.cert) == (str(ca), str(cert))
    insecure = settings([f"--mlflow.tracking-uri={URL}"], {"MLFLOW_TRACKING_INSECURE_TLS": "true"}).tls
    assert insecure.verify is False


def test_tls_files_must_exist_when_enabled(tmp_path: Path) -> None:
    found = problems(
        ["--collector.mlflow", f"--mlflow.tracking-uri={URL}"],
        {"mlflow": {"tls": {"ca_file": "/nope.pem"}}},
        tmp_path,
    )
    assert found == ["mlflow.tls: /nope.pem is not a readable file"]

"""Nothing a config file or a flag holds can stall the start, pass silently or print a secret."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from exporter.plugins import PLUGINS
from exporter.settings import MAX_CONFIG_BYTES, ConfigError, Settings, parse
from tests.dummy_plugin import DummyPlugin

SECRET = "s3cret-t0ken"


def _parse(argv: list[str], environ: dict[str, str] | None = None) -> Settings:
    return parse(["--gpu.backend=fake", *argv], environ or {}, PLUGINS)


def _problems(argv: list[str], environ: dict[str, str] | None = None) -> list[str]:
    with pytest.raises(ConfigError) as caught:
        _parse(argv, environ)
    return caught.value.problems


def _config(tmp_path: Path, text: str) -> str:
    path = tmp_path / "exporter.yaml"
    path.write_text(text)
    return f"--config.file={path}"


@pytest.mark.parametrize("number", [".nan", ".inf", "-.inf", ".NaN"])
@pytest.mark.parametrize(
    ("section", "where"),
    [
        (
            "collectors: {tfserving: true}\ntfserving: {timeout: N, targets: [{url: 'http://h:8501'}]}",
            "timeout",
        ),
        (
            "collectors: {tfserving: true}\ntfserving: {targets: [{url: 'http://h:8501', timeout: N}]}",
            "timeout",
        ),
        ("gpu: {call_timeout: N}", "gpu.call_timeout"),
        ("attribution: {timeout: N}", "attribution.timeout"),
    ],
)
def test_a_number_that_is_not_finite_is_refused_as_the_flags_refuse_it(
    tmp_path: Path, section: str, where: str, number: str
) -> None:
    problems = _problems([_config(tmp_path, section.replace("N", number))])
    assert len(problems) == 1 and where in problems[0] and "must be a finite number" in problems[0]


@pytest.mark.parametrize(
    "flag", ["--gpu.call-timeout=inf", "--tfserving.timeout=nan", "--attribution.timeout=inf"]
)
def test_flags_refuse_numbers_that_are_not_finite(flag: str) -> None:
    assert "must be a finite number of seconds" in _problems([flag])[0]


@pytest.mark.parametrize(
    ("text", "key"),
    [
        ("gpu: {backend: fake}\ngpu: {backend: nvml}\n", "'gpu'"),
        ("tfserving:\n  timeout: 1\n  timeout: 2\n", "'timeout'"),
        ("collectors: {gpu: true, gpu: false}\n", "'gpu'"),
    ],
)
def test_a_key_given_twice_is_an_error_naming_it_and_its_line(tmp_path: Path, text: str, key: str) -> None:
    problems = _problems([_config(tmp_path, text)])
    assert len(problems) == 1 and f"duplicate key {key}" in problems[0] and " line " in problems[0]


def test_yaml_merge_keys_are_not_duplicates(tmp_path: Path) -> None:
    text = "base: &base {backend: fake}\n"
    with pytest.raises(ConfigError) as caught:  # `base` is not a section, but the merge itself parses
        _parse([_config(tmp_path, text + "gpu: {<<: *base, call_timeout: 1}\n")])
    assert caught.value.problems == ["base: unknown key"]


def test_a_config_file_that_is_not_utf8_names_the_line(tmp_path: Path) -> None:
    path = tmp_path / "latin1.yaml"
    path.write_bytes(b"gpu:\n  backend: fake # caf\xe9\n")
    assert _problems([f"--config.file={path}"]) == [f"--config.file: {path} is not UTF-8 text (line 2)"]


@pytest.mark.parametrize("path", ["/dev/zero", "/dev/null", "/"])
def test_a_config_file_that_is_not_a_regular_file_is_refused_unread(path: str) -> None:
    assert _problems([f"--config.file={path}"]) == [f"--config.file: {path} is not a regular file"]


def test_a_config_file_over_the_size_limit_is_refused_unparsed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "huge.yaml"
    targets = "".join(
        f"    - url: http://10.{i >> 16}.{(i >> 8) & 255}.{i & 255}:8501\n" for i in range(200_000)
    )
    path.write_text(f"collectors: {{tfserving: true}}\ntfserving:\n  targets:\n{targets}")
    assert path.stat().st_size > MAX_CONFIG_BYTES
    real_load, parsed = yaml.load, []

    def load(stream: Any, *args: Any, **kwargs: Any) -> Any:
        parsed.append(len(stream) if isinstance(stream, str | bytes) else 0)
        return real_load(stream, *args, **kwargs)

    monkeypatch.setattr(yaml, "load", load)
    problems = _problems([f"--config.file={path}"])
    assert problems == [f"--config.file: {path} is larger than 1024 KiB"]
    assert max(parsed, default=0) < MAX_CONFIG_BYTES  # refused by its size: YAML never saw it


def test_more_targets_than_the_limit_is_one_problem(tmp_path: Path) -> None:
    targets = "".join(f"  - url: http://10.0.{i >> 8}.{i & 255}:8501\n" for i in range(1001))
    problems = _problems(
        [_config(tmp_path, f"collectors: {{tfserving: true}}\ntfserving:\n targets:\n{targets}")]
    )
    assert problems == ["tfserving.targets: has 1001 items, at most 1000 are allowed"]
    flags = [f"--tfserving.target=http://10.0.{i >> 8}.{i & 255}:8501" for i in range(1001)]
    assert _problems(["--collector.tfserving", *flags]) == ["tfserving: more than 1000 targets"]


def test_a_huge_or_nested_value_is_echoed_cut_short(tmp_path: Path) -> None:
    bomb = "a: &a [x, x, x, x, x, x, x, x, x]\n" + "".join(
        f"{chr(98 + i)}: &{chr(98 + i)} [*{chr(97 + i)}, *{chr(97 + i)}, *{chr(97 + i)}, *{chr(97 + i)}]\n"
        for i in range(8)
    )
    text = bomb + f"gpu: {{backend: *i, fake_scenario: '{'y' * 100_000}'}}\n"
    problems = _problems([_config(tmp_path, text)])
    assert any(p.startswith("gpu.backend: must be a non-empty string") for p in problems), problems
    assert all(len(p) < 300 for p in problems), [len(p) for p in problems]


@pytest.mark.parametrize(
    ("argv", "environ"),
    [
        (["--collector.tfserving", f"--tfserving.target=ftp://user:{SECRET}@10.0.0.5:8501/"], {}),
        (["--collector.tfserving", f"--tfserving.target=http://10.0.0.5:8501/?token={SECRET}"], {}),
        (["--collector.tfserving", f"--tfserving.target=http://user:{SECRET}@[10.0.0.5/"], {}),
        (["--collector.mlflow", f"--mlflow.tracking-uri=ftp://user:{SECRET}@mlflow.internal"], {}),
        (["--collector.mlflow", f"--mlflow.tracking-uri=https://mlflow.internal/?token={SECRET}"], {}),
        (["--collector.mlflow", f"--mlflow.tracking-uri=https://user:{SECRET}@[mlflow.internal/"], {}),
        (["--collector.mlflow"], {"MLFLOW_TRACKING_URI": f"mlflow://user:{SECRET}@mlflow.internal"}),
    ],
)
def test_a_rejected_uri_is_echoed_without_its_secret(argv: list[str], environ: dict[str, str]) -> None:
    problems = _problems(argv, environ)
    assert len(problems) == 1
    assert SECRET not in problems[0]
    assert "10.0.0.5" in problems[0] or "mlflow.internal" in problems[0]


def test_a_rejected_uri_in_the_config_file_is_echoed_without_its_secret(tmp_path: Path) -> None:
    text = f"collectors: {{tfserving: true}}\ntfserving: {{targets: [{{url: 'gopher://u:{SECRET}@h:1'}}]}}\n"
    problems = _problems([_config(tmp_path, text)])
    assert len(problems) == 1 and SECRET not in problems[0] and "'gopher://***@h:1'" in problems[0]


def test_flags_of_disabled_collectors_are_named_in_one_warning() -> None:
    settings = _parse(
        ["--attribution.pod-resources-socket=/run/k.sock", "--tfserving.timeout", "3", "--no-gpu.xid-events"]
    )
    assert settings.warnings == [
        "flags of disabled collectors are ignored: "
        "--attribution.pod-resources-socket (--collector.attribution is off), "
        "--tfserving.timeout (--collector.tfserving is off)"
    ]
    assert (
        _parse(["--collector.attribution", "--attribution.pod-resources-socket=/run/k.sock"]).warnings == []
    )


@pytest.mark.parametrize(
    ("value", "why"),
    [
        ("0", "must be at least 1, got 0"),
        ("-1", "must be at least 1, got -1"),
        ("many", "must be an integer, got 'many'"),
        ("10001", "must be at most 10000, got 10001"),
    ],
)
def test_max_requests_must_be_a_whole_number_in_range(value: str, why: str) -> None:
    problems = _problems([f"--web.max-requests={value}"])
    assert problems == [f"--web.max-requests: {why}"]


def test_max_requests_defaults_to_40_like_node_exporter() -> None:
    assert parse([], {}, [DummyPlugin()]).max_requests == 40
    assert parse(["--web.max-requests=7"], {}, [DummyPlugin()]).max_requests == 7

"""One duration rule for every duration option, in flags and in the config file alike."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import pytest

from exporter.durations import format_duration, seconds_of
from exporter.option_values import merge
from exporter.options import Duration, Option
from exporter.plugins import PLUGINS
from exporter.settings import ConfigError, build_parser, parse
from exporter.validate import Section

DURATION_OPTIONS = [
    (plugin.name, option)
    for plugin in PLUGINS
    for option in plugin.options
    if isinstance(option.kind, Duration)
]
IDS = [f"{name}.{option.key}" for name, option in DURATION_OPTIONS]
FLAGGED = [(name, option) for name, option in DURATION_OPTIONS if option.flag_name(name) is not None]
FLAGGED_IDS = [f"{name}.{option.key}" for name, option in FLAGGED]
ACCEPTED: list[tuple[Any, float]] = [
    ("2s", 2.0),
    ("500ms", 0.5),
    ("1m", 60.0),
    ("1h30m", 5400.0),
    (2, 2.0),
    (0.25, 0.25),
]
REFUSED: list[Any] = [
    "-1s",
    "abc",
    "2 s",
    "s",
    "",
    "1x",
    float("nan"),
    float("inf"),
    "nan",
    "-inf",
    True,
    [2],
]


def _nested(key: str, value: Any) -> dict[str, Any]:
    parent, _, leaf = key.rpartition(".")
    data: dict[str, Any] = {leaf: value}
    for part in reversed(parent.split(".") if parent else []):
        data = {part: data}
    return data


def _from_config(plugin: str, option: Option, value: Any) -> tuple[Any, list[str]]:
    problems: list[str] = []
    args = build_parser(PLUGINS).parse_args([])
    values = merge(plugin, [option], args, Section(_nested(option.key, value), plugin, problems))
    return values[option.key], problems


def _from_flag(plugin: str, option: Option, text: str) -> tuple[Any, list[str]]:
    flag = option.flag_name(plugin)
    assert flag is not None
    problems: list[str] = []
    args = build_parser(PLUGINS).parse_args([f"{flag}={text}"])
    values = merge(plugin, [option], args, Section({}, plugin, problems))
    return values[option.key], problems


def test_the_plugins_have_duration_options_and_every_flag_one_is_checked() -> None:
    assert {"gpu.call_timeout", "tfserving.timeout", "attribution.timeout", "mlflow.refresh_interval"} <= set(
        IDS
    )


@pytest.mark.parametrize(("value", "seconds"), ACCEPTED)
@pytest.mark.parametrize(("plugin", "option"), DURATION_OPTIONS, ids=IDS)
def test_every_duration_option_accepts_the_same_forms_in_the_config(
    plugin: str, option: Option, value: Any, seconds: float
) -> None:
    assert _from_config(plugin, option, value) == (seconds, [])


@pytest.mark.parametrize(("value", "seconds"), ACCEPTED)
@pytest.mark.parametrize(("plugin", "option"), FLAGGED, ids=FLAGGED_IDS)
def test_every_duration_flag_accepts_the_same_forms(
    plugin: str, option: Option, value: Any, seconds: float
) -> None:
    assert _from_flag(plugin, option, str(value)) == (seconds, [])


@pytest.mark.parametrize("value", REFUSED, ids=repr)
@pytest.mark.parametrize(("plugin", "option"), DURATION_OPTIONS, ids=IDS)
def test_every_duration_option_refuses_the_same_values_naming_where(
    plugin: str, option: Option, value: Any
) -> None:
    value_, problems = _from_config(plugin, option, value)
    assert value_ == option.default and len(problems) == 1
    assert problems[0].startswith(f"{plugin}.{option.key}: must be") and "\n" not in problems[0]
    if option.flag_name(plugin) is not None and isinstance(value, str):
        _, problems = _from_flag(plugin, option, value)
        assert len(problems) == 1 and problems[0].startswith(f"{option.flag_name(plugin)}: must be")


@pytest.mark.parametrize(("plugin", "option"), DURATION_OPTIONS, ids=IDS)
def test_zero_is_refused_where_a_positive_duration_is_needed(plugin: str, option: Option) -> None:
    assert isinstance(option.kind, Duration)
    for zero in (0, "0", "0s"):
        _, problems = _from_config(plugin, option, zero)
        assert (problems == []) is not option.kind.positive, problems
        if option.kind.positive:
            assert problems[0].endswith(f"must be greater than 0, got {zero!r}")


def test_a_duration_that_may_be_zero_still_refuses_a_negative_one() -> None:
    option = Option("every", Duration(positive=False), 30.0, "test")
    assert _from_config("tfserving", option, 0) == (0.0, [])
    assert _from_config("tfserving", option, -1) == (30.0, ["tfserving.every: must not be negative, got -1"])


def test_the_flag_beats_the_config_which_beats_the_default(tmp_path: Path) -> None:
    config = tmp_path / "c.yaml"
    config.write_text("gpu: {call_timeout: 500ms}\nattribution: {timeout: 1m}\n")
    default = parse(["--gpu.backend=fake"], {}, PLUGINS).collectors["gpu"]
    from_file = parse(["--gpu.backend=fake", f"--config.file={config}"], {}, PLUGINS).collectors["gpu"]
    from_flag = parse(["--gpu.backend=fake", f"--config.file={config}", "--gpu.call-timeout=1m"], {}, PLUGINS)
    assert (default.call_timeout, from_file.call_timeout, from_flag.collectors["gpu"].call_timeout) == (
        2,
        0.5,
        60,
    )


def test_the_issue_examples_are_accepted_everywhere(tmp_path: Path) -> None:
    config = tmp_path / "c.yaml"
    config.write_text("tfserving: {timeout: 2s, targets: [{url: 'http://h:1', timeout: 500ms}]}\n")
    settings = parse(["--collector.tfserving", f"--config.file={config}"], {}, PLUGINS).collectors[
        "tfserving"
    ]
    assert [target.timeout for target in settings.targets] == [0.5]
    flags = ["--collector.tfserving", "--tfserving.target=http://h:1", "--tfserving.timeout=2s"]
    assert parse(flags, {}, PLUGINS).collectors["tfserving"].targets[0].timeout == 2


def test_a_target_timeout_in_the_config_is_checked_like_every_duration(tmp_path: Path) -> None:
    config = tmp_path / "c.yaml"
    config.write_text(
        "collectors: {tfserving: true}\ntfserving: {targets: [{url: 'http://h:1', timeout: -1s}]}\n"
    )
    with pytest.raises(ConfigError) as caught:
        parse([f"--config.file={config}"], {}, PLUGINS)
    (problem,) = caught.value.problems
    assert problem.startswith("tfserving.targets[0].timeout: must be a duration like 2s, 500ms or 1m")
    assert problem.endswith("got '-1s'")


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("45", 45),
        ("0.5", 0.5),
        ("30s", 30),
        ("2m", 120),
        ("1h30m", 5400),
        ("1d", 86400),
        ("1w", 604800),
        (" 2s ", 2),
    ],
)
def test_the_grammar(text: str, seconds: float) -> None:
    assert seconds_of(text) == seconds


@pytest.mark.parametrize("text", ["soon", "5x", "m", "1.s", "1s2", "--1s", "1e3s"])
def test_what_the_grammar_refuses(text: str) -> None:
    with pytest.raises(ValueError, match="must be a duration like 2s, 500ms or 1m"):
        seconds_of(text)


@pytest.mark.parametrize("value", ["nan", "inf", float("nan"), float("-inf")])
def test_numbers_that_are_not_finite_are_refused(value: Any) -> None:
    with pytest.raises(ValueError, match="must be a finite number of seconds"):
        seconds_of(value)


@pytest.mark.parametrize(
    ("seconds", "text"), [(2, "2s"), (60, "1m"), (0.5, "500ms"), (5400, "90m"), (86400, "1d")]
)
def test_defaults_are_shown_in_the_shortest_form_that_parses_back(seconds: float, text: str) -> None:
    assert format_duration(seconds) == text
    assert math.isclose(seconds_of(text), seconds)

"""Flags and the config file merged into one validated `Settings`, with every problem reported at once."""

from __future__ import annotations

import argparse
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import yaml

from exporter import __version__
from exporter.logs import LEVELS
from exporter.plugin import Plugin
from exporter.validate import Section

DEFAULT_PORT = 9847
_ADDRESS = re.compile(r"^(?:\[(?P<v6>[0-9a-fA-F:.]+)\]|(?P<host>[^:\[\]]*)):(?P<port>\d{1,5})$")


class ConfigError(Exception):
    """Invalid flags or config file; `problems` lists every one of them."""

    def __init__(self, problems: Sequence[str]) -> None:
        self.problems = list(problems)
        super().__init__("; ".join(self.problems))


@dataclass
class Settings:
    listen_host: str
    listen_port: int
    telemetry_path: str
    log_level: str
    log_format: str
    node_name: str
    # Enabled collectors only, in plugin order: name -> that plugin's settings.
    collectors: dict[str, Any] = field(default_factory=dict)


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> Any:  # collect instead of exiting on the first problem
        raise ConfigError([message])


def build_parser(plugins: Sequence[Plugin]) -> argparse.ArgumentParser:
    parser = _Parser(
        prog="mlobs-exporter",
        description="Prometheus exporter for GPUs (NVML), TF Serving and MLflow.",
        allow_abbrev=False,
    )
    parser.add_argument("--version", action="version", version=f"mlobs-exporter {__version__}")
    parser.add_argument(
        "--web.listen-address",
        dest="listen_address",
        default=f":{DEFAULT_PORT}",
        help=f"host:port to listen on (default :{DEFAULT_PORT})",
    )
    parser.add_argument(
        "--web.telemetry-path", dest="telemetry_path", default="/metrics", help="path of the metrics page"
    )
    parser.add_argument("--config.file", dest="config_file", default=None, help="YAML config file")
    parser.add_argument("--log.level", dest="log_level", default="info", help="|".join(LEVELS))
    parser.add_argument("--log.format", dest="log_format", default="logfmt", help="logfmt|json")
    for plugin in plugins:
        parser.add_argument(
            f"--collector.{plugin.name}",
            dest=f"collector_{plugin.name}",
            action=argparse.BooleanOptionalAction,
            default=None,
            help=f"{plugin.description} (default {'on' if plugin.default_enabled else 'off'})",
        )
    for plugin in plugins:
        plugin.add_flags(parser)
    return parser


def parse_listen_address(value: str) -> tuple[str, int]:
    match = _ADDRESS.match(value)
    if not match or not 0 <= int(match["port"]) <= 65535:
        raise ValueError(f"--web.listen-address: {value!r} is not host:port (e.g. :{DEFAULT_PORT})")
    return (match["v6"] or match["host"] or "0.0.0.0"), int(match["port"])


def load_config_file(path: str | None, problems: list[str]) -> Any:
    if path is None:
        return {}
    try:
        with open(path, encoding="utf-8") as handle:
            return yaml.safe_load(handle) or {}
    except OSError as exc:
        problems.append(f"--config.file: cannot read {path}: {exc.strerror}")
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" line {mark.line + 1}" if mark else ""
        problems.append(f"--config.file: {path}{where} is not valid YAML")
    return {}


def parse(argv: Sequence[str], environ: Mapping[str, str], plugins: Sequence[Plugin]) -> Settings:
    """Parse flags, read the config file, validate everything; raise ConfigError listing all problems."""
    parser = build_parser(plugins)
    problems: list[str] = []
    try:
        args, unknown = parser.parse_known_args(list(argv))
    except ConfigError as exc:
        raise ConfigError(exc.problems) from None
    problems.extend(f"unknown flag {flag}" for flag in unknown)

    try:
        host, port = parse_listen_address(args.listen_address)
    except ValueError as exc:
        problems.append(str(exc))
        host, port = "", 0
    if not args.telemetry_path.startswith("/") or args.telemetry_path in ("/", "/health"):
        problems.append(
            f"--web.telemetry-path: {args.telemetry_path!r} must start with / and not be / or /health"
        )
    if args.log_level not in LEVELS:
        problems.append(f"--log.level: {args.log_level!r} is not one of {', '.join(LEVELS)}")
    if args.log_format not in ("logfmt", "json"):
        problems.append(f"--log.format: {args.log_format!r} is not logfmt or json")

    root = Section(load_config_file(args.config_file, problems), "", problems)
    enabled_section = root.section("collectors")
    collectors: dict[str, Any] = {}
    for plugin in plugins:
        flag = getattr(args, f"collector_{plugin.name}")
        from_file = enabled_section.boolean(plugin.name, plugin.default_enabled)
        enabled = from_file if flag is None else flag
        section = root.section(plugin.name)
        settings = plugin.configure(args, section, environ, enabled)
        section.reject_unknown()
        if enabled:
            collectors[plugin.name] = settings
    enabled_section.reject_unknown()
    root.reject_unknown()
    if problems:
        raise ConfigError(problems)
    return Settings(
        listen_host=host,
        listen_port=port,
        telemetry_path=args.telemetry_path,
        log_level=args.log_level,
        log_format=args.log_format,
        node_name=environ.get("NODE_NAME", ""),
        collectors=collectors,
    )
